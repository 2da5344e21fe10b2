/**
 * The node's open acks (`ws/send-deadlines.ts`) on the TestClock: each is answered at its own
 * deadline, whatever order the acks were added in, and one answer that throws does not stop
 * the others or the ones after it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import { type PendingAck, SendDeadlines } from "../src/ws/send-deadlines.ts"

const tickMs = 100

const ack = (deadlineAt: number, answeredLate: Array<string>, name: string, late?: () => void): PendingAck => ({
  deadlineAt,
  answered: false,
  late: late ?? (() => answeredLate.push(name))
})

/** The deadlines' fiber running, and the names of the sends it answered late, in order. */
const started = Effect.gen(function* () {
  const deadlines = new SendDeadlines()
  yield* Effect.forkChild(deadlines.run(tickMs))
  return { deadlines, late: [] as Array<string> }
})

describe("send deadlines", () => {
  it.effect("an ack added after one due later is answered at its own deadline", () =>
    Effect.gen(function* () {
      const { deadlines, late } = yield* started
      // Its checks took long: added after a send that arrived later, and due before it.
      deadlines.add(ack(3000, late, "arrived later"))
      // The fiber is asleep until 3000 by now: it must be woken for the earlier one.
      yield* TestClock.adjust(Duration.millis(tickMs))
      deadlines.add(ack(1500, late, "waited in its queue"))
      yield* TestClock.adjust(Duration.millis(1499 - tickMs))
      assert.deepStrictEqual(late, [])
      yield* TestClock.adjust(Duration.millis(tickMs))
      assert.deepStrictEqual(late, ["waited in its queue"])
      yield* TestClock.adjust(Duration.millis(1500))
      assert.deepStrictEqual(late, ["waited in its queue", "arrived later"])
    })
  )

  it.effect("an answer that throws does not keep the others from theirs, then or later", () =>
    Effect.gen(function* () {
      const { deadlines, late } = yield* started
      deadlines.add(
        ack(1000, late, "throws", () => {
          throw new Error("socket gone")
        })
      )
      deadlines.add(ack(1000, late, "same time"))
      yield* TestClock.adjust(Duration.millis(1000))
      assert.deepStrictEqual(late, ["same time"])
      deadlines.add(ack(2500, late, "later"))
      yield* TestClock.adjust(Duration.millis(1500))
      assert.deepStrictEqual(late, ["same time", "later"])
    })
  )

  it.effect("an ack answered by its room's reply first is not answered again", () =>
    Effect.gen(function* () {
      const { deadlines, late } = yield* started
      const stored = ack(1000, late, "stored in time")
      deadlines.add(stored)
      stored.answered = true
      yield* TestClock.adjust(Duration.millis(2000))
      assert.deepStrictEqual(late, [])
    })
  )
})
