/**
 * One connection's inbound queue: the client's frames and the server's own control items (a
 * subscription re-check after a membership change or on the periodic timer, the `room_id`
 * subscribe), run one at a time in arrival order. Client frames fill it up to `frames`; one
 * more is refused (the caller answers it "slow down") and the connection stays open. Control
 * items have `reserve` more places that frames cannot take, so a flooding client never makes
 * a re-check wait outside the queue. A control item must never be dropped (a lost re-check
 * could leave a removed member reading a private room): if even the reserve is full, the
 * connection is given up instead, through `onControlLost` (close 1013, try again later).
 */
import { Effect, Queue } from "effect"

export interface Inbound {
  /** Queues a client frame; `false` when `frames` items already wait (the caller answers "slow down"). */
  readonly offerFrame: (item: Effect.Effect<void>) => boolean
  /** Queues a server control item; when it does not fit, calls `onControlLost` instead. */
  readonly offerControl: (item: Effect.Effect<void>) => void
  /** The next item, in order; waits while there is none. */
  readonly take: Effect.Effect<Effect.Effect<void>>
}

export const makeInbound = (
  capacity: { readonly frames: number; readonly reserve: number },
  onControlLost: () => void
) =>
  Effect.map(
    Queue.bounded<Effect.Effect<void>>(capacity.frames + capacity.reserve),
    (queue): Inbound => ({
      offerFrame: (item) => Queue.sizeUnsafe(queue) < capacity.frames && Queue.offerUnsafe(queue, item),
      offerControl: (item) => {
        if (!Queue.offerUnsafe(queue, item)) onControlLost()
      },
      take: Queue.take(queue)
    })
  )
