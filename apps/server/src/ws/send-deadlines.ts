/**
 * The node's open acks and their deadlines (`chat/send-deadline.ts`), as one fiber: an ack
 * still waiting for its message to be stored at its deadline is answered there and then
 * (`service_unavailable`), and a reply from its room coming later is ignored. A frame that
 * had to queue behind another on its socket is an entry too, from its arrival: still queued
 * and a send at its deadline, it is answered the same way (`handlers/dispatch.ts`,
 * `queuedFrame`).
 *
 * One fiber and a queue, not a timer per send: a timeout is a race of two fibers, about 13 µs
 * of a send's CPU; here a send costs one entry. The queue is kept in deadline order: a send
 * is added once its checks are done, so one that waited longer in its socket's queue may come
 * due before those added just before it; it is put in place from the tail, which is nearly
 * always where it goes. The fiber looks at the head when it is due, at most once per `tickMs`
 * (an answer may be up to that late), and is woken for an entry due before its next look.
 * With nothing open, it waits for the next send instead of waking.
 */
import { Clock, Deferred, Effect, Exit } from "effect"

export interface PendingAck {
  /** Epoch ms. */
  readonly deadlineAt: number
  /** Set by whoever answers first: the room actor's reply, or the deadline. */
  answered: boolean
  /** Answers the send late (called once, when the deadline wins). */
  readonly late: () => void
}

export class SendDeadlines {
  private readonly queue: Array<PendingAck> = []
  private head = 0
  /** When the fiber looks next (epoch ms), and how to make it look sooner. */
  private nextLook = Number.POSITIVE_INFINITY
  private wake: Deferred.Deferred<void> | undefined = undefined

  add(pending: PendingAck): void {
    const { queue } = this
    let at = queue.length
    while (at > this.head && queue[at - 1]!.deadlineAt > pending.deadlineAt) at--
    if (at === queue.length) queue.push(pending)
    else queue.splice(at, 0, pending)
    if (pending.deadlineAt < this.nextLook && this.wake !== undefined) {
      this.nextLook = Number.NEGATIVE_INFINITY
      Deferred.doneUnsafe(this.wake, Exit.void)
    }
  }

  /** Answers every open ack whose deadline has passed; what went wrong answering any of them. */
  expire(now: number): Array<unknown> {
    const { queue } = this
    const errors: Array<unknown> = []
    while (this.head < queue.length && queue[this.head]!.deadlineAt <= now) {
      const pending = queue[this.head]!
      queue[this.head++] = undefined as never
      if (pending.answered) continue
      pending.answered = true
      // One answer that throws must not stop the others, nor this fiber.
      try {
        pending.late()
      } catch (error) {
        errors.push(error)
      }
    }
    // Drop the answered head once it is most of the array: amortized O(1) per send.
    if (this.head === queue.length) {
      queue.length = 0
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > queue.length) {
      queue.splice(0, this.head)
      this.head = 0
    }
    return errors
  }

  /** Runs until interrupted (with the node's connections). */
  run(tickMs: number): Effect.Effect<never> {
    const once = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const errors = this.expire(now)
      const next = this.queue[this.head]
      const wake = Deferred.makeUnsafe<void>()
      this.wake = wake
      this.nextLook = next === undefined ? Number.POSITIVE_INFINITY : Math.max(next.deadlineAt, now + tickMs)
      const wait =
        next === undefined
          ? Deferred.await(wake)
          : Effect.raceFirst(Effect.sleep(this.nextLook - now), Deferred.await(wake))
      return errors.length === 0
        ? wait
        : Effect.andThen(Effect.logError("answering a late send failed", ...errors), wait)
    })
    return Effect.forever(once)
  }
}
