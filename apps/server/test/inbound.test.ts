/**
 * A connection's inbound queue: client frames beyond its capacity are refused (and answered
 * by the caller), but a server control item that does not fit gives the connection up rather
 * than being dropped, so a re-check after a membership change can never be lost silently.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeInbound } from "../src/ws/inbound.ts"

describe("inbound queue", () => {
  it.effect("runs frames and control items in arrival order", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const item = (name: string) => Effect.sync(() => void ran.push(name))
      const inbound = yield* makeInbound(3, () => ran.push("lost"))
      assert.isTrue(inbound.offerFrame(item("frame 1")))
      inbound.offerControl(item("re-check"))
      assert.isTrue(inbound.offerFrame(item("frame 2")))
      for (let i = 0; i < 3; i++) yield* Effect.flatten(inbound.take)
      assert.deepStrictEqual(ran, ["frame 1", "re-check", "frame 2"])
    })
  )

  it.effect("a full queue refuses a frame, and gives the connection up rather than drop a control item", () =>
    Effect.gen(function* () {
      let lost = 0
      const inbound = yield* makeInbound(2, () => lost++)
      assert.isTrue(inbound.offerFrame(Effect.void))
      assert.isTrue(inbound.offerFrame(Effect.void))
      assert.isFalse(inbound.offerFrame(Effect.void))
      assert.strictEqual(lost, 0)

      inbound.offerControl(Effect.void)
      assert.strictEqual(lost, 1)

      // Room again: the control item is queued, nothing is given up.
      yield* Effect.flatten(inbound.take)
      inbound.offerControl(Effect.void)
      assert.strictEqual(lost, 1)
    })
  )
})
