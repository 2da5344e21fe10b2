/**
 * The node's open acks and their deadlines (`chat/send-deadline.ts`), as one fiber: an ack
 * still waiting for its message to be stored at its deadline is answered there and then
 * (`service_unavailable`), and its wait is interrupted.
 *
 * One fiber and a queue, not a timer per send: a timeout is a race of two fibers, about 13 µs
 * of a send's CPU; here a send costs one entry. Every deadline is its arrival plus the same
 * budget, so they come due in the order they were added: the queue is looked at from its
 * head when the head is due, at most once per `tickMs` (an answer may be up to that late).
 * With nothing open, the fiber waits for the next send instead of waking.
 */
import { Clock, Deferred, Effect, Exit, type Fiber } from "effect"

export interface PendingAck {
  /** Epoch ms. */
  readonly deadlineAt: number
  /** Set by whoever answers first: the ack's own fiber, or the deadline. */
  answered: boolean
  /** The wait for the stored message, interrupted at the deadline. */
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** Answers the send late (called once, when the deadline wins). */
  readonly late: () => void
}

export class SendDeadlines {
  private readonly queue: Array<PendingAck> = []
  private head = 0

  /** Completed by `add` when the fiber waits on an empty queue. */
  private wake: Deferred.Deferred<void> | undefined = undefined

  add(pending: PendingAck): void {
    this.queue.push(pending)
    if (this.wake !== undefined) {
      Deferred.doneUnsafe(this.wake, Exit.void)
      this.wake = undefined
    }
  }

  /** Answers every open ack whose deadline has passed. */
  expire(now: number): void {
    const { queue } = this
    while (this.head < queue.length && queue[this.head]!.deadlineAt <= now) {
      const pending = queue[this.head]!
      queue[this.head++] = undefined as never
      if (pending.answered) continue
      pending.answered = true
      pending.fiber?.interruptUnsafe()
      pending.late()
    }
    // Drop the answered head once it is most of the array: amortized O(1) per send.
    if (this.head === queue.length) {
      queue.length = 0
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > queue.length) {
      queue.splice(0, this.head)
      this.head = 0
    }
  }

  /** Runs until interrupted (with the node's connections). */
  run(tickMs: number): Effect.Effect<never> {
    const once = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      this.expire(now)
      const next = this.queue[this.head]
      if (next === undefined) {
        this.wake = Deferred.makeUnsafe<void>()
        return Deferred.await(this.wake)
      }
      return Effect.sleep(Math.max(next.deadlineAt - now, tickMs))
    })
    return Effect.forever(once)
  }
}
