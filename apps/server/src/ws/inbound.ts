/**
 * One connection's inbound queue: the client's frames and the server's own control items (a
 * subscription re-check after a membership change or on the periodic timer, the `room_id`
 * subscribe), run one at a time in arrival order. It is bounded: a client that floods it has
 * its extra frames refused, each with an answer. A control item must never be lost that way
 * (a dropped re-check could leave a removed member reading a private room), so when one does
 * not fit the connection is given up instead: `onControlLost` closes it (1013, try again later).
 */
import { Effect, Queue } from "effect"

export interface Inbound {
  /** Queues a client frame; `false` when the queue is full (the caller answers "slow down"). */
  readonly offerFrame: (item: Effect.Effect<void>) => boolean
  /** Queues a server control item; when it does not fit, calls `onControlLost` instead. */
  readonly offerControl: (item: Effect.Effect<void>) => void
  /** The next item, in order; waits while there is none. */
  readonly take: Effect.Effect<Effect.Effect<void>>
}

export const makeInbound = (capacity: number, onControlLost: () => void) =>
  Effect.map(
    Queue.bounded<Effect.Effect<void>>(capacity),
    (queue): Inbound => ({
      offerFrame: (item) => Queue.offerUnsafe(queue, item),
      offerControl: (item) => {
        if (!Queue.offerUnsafe(queue, item)) onControlLost()
      },
      take: Queue.take(queue)
    })
  )
