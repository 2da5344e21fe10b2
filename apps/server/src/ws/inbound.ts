/**
 * One connection's inbound queue: the client's frames and the server's own control items (a
 * subscription re-check after a membership change or on the periodic timer, the `room_id`
 * subscribe), run one at a time in arrival order. Client frames fill it up to `frames`; one
 * more is refused (the caller answers it "slow down") and the connection stays open. Control
 * items have `reserve` more places that frames cannot take, so a flooding client never makes
 * a re-check wait outside the queue. A control item must never be dropped (a lost re-check
 * could leave a removed member reading a private room): if even the reserve is full, the
 * connection is given up instead, through `controlLost` (close 1013, try again later).
 *
 * No fiber waits on an empty queue: an idle socket costs nothing here. The first item forks
 * a worker (through the host, into the connection's fibers) that runs until the queue is empty.
 */
import { Effect } from "effect"

export interface InboundHost {
  /** Runs the queue's worker in the connection's fiber set. */
  readonly forkWorker: (worker: Effect.Effect<void>) => void
  /** A control item found no place: give the connection up. */
  readonly controlLost: () => void
  /** Set once nothing more may run for this connection; waiting items are dropped. */
  readonly stopped: boolean
}

export interface InboundCapacity {
  readonly frames: number
  readonly reserve: number
}

export class Inbound {
  private readonly items: Array<Effect.Effect<void>> = []
  private running = false
  private readonly capacity: InboundCapacity
  private readonly host: InboundHost

  constructor(capacity: InboundCapacity, host: InboundHost) {
    this.capacity = capacity
    this.host = host
  }

  /** Whether `frames` items already wait: a client frame offered now is refused. */
  get full(): boolean {
    return this.items.length >= this.capacity.frames
  }

  /** Queues a client frame; `false` when `frames` items already wait (the caller answers "slow down"). */
  offerFrame(item: Effect.Effect<void>): boolean {
    if (this.full) return false
    this.push(item)
    return true
  }

  /** Queues a server control item; when it does not fit, gives the connection up instead. */
  offerControl(item: Effect.Effect<void>): void {
    if (this.items.length >= this.capacity.frames + this.capacity.reserve) this.host.controlLost()
    else this.push(item)
  }

  /** Items waiting, not counting the one running. */
  get size(): number {
    return this.items.length
  }

  /** Whether an item is running or waiting: one offered now would wait for it. */
  get busy(): boolean {
    return this.running
  }

  private push(item: Effect.Effect<void>) {
    this.items.push(item)
    if (this.running) return
    this.running = true
    this.host.forkWorker(this.worker())
  }

  private worker(): Effect.Effect<void> {
    return Effect.whileLoop({
      while: () => {
        if (this.items.length > 0 && !this.host.stopped) return true
        this.items.length = 0
        this.running = false
        return false
      },
      // One item failing in an unforeseen way must not stop the connection from reading on.
      body: () =>
        this.items.shift()!.pipe(Effect.catchCause((cause) => Effect.logError("websocket inbound item failed", cause))),
      step: () => {}
    })
  }
}
