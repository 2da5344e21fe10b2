/**
 * A connection's inbound queue: client frames beyond their capacity are refused (and answered
 * by the caller), the server's control items still find a place in the reserve, and one that
 * finds none gives the connection up rather than being dropped, so a re-check after a
 * membership change can never be lost silently.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeInbound } from "../src/ws/inbound.ts"

describe("inbound queue", () => {
  it.effect("runs frames and control items in arrival order", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      const item = (name: string) => Effect.sync(() => void ran.push(name))
      const inbound = yield* makeInbound({ frames: 3, reserve: 1 }, () => ran.push("lost"))
      assert.isTrue(inbound.offerFrame(item("frame 1")))
      inbound.offerControl(item("re-check"))
      assert.isTrue(inbound.offerFrame(item("frame 2")))
      for (let i = 0; i < 3; i++) yield* Effect.flatten(inbound.take)
      assert.deepStrictEqual(ran, ["frame 1", "re-check", "frame 2"])
    })
  )

  it.effect("a flood of frames is refused beyond capacity, yet control items still fit in the reserve", () =>
    Effect.gen(function* () {
      const ran: Array<string> = []
      let lost = 0
      const inbound = yield* makeInbound({ frames: 2, reserve: 2 }, () => lost++)
      assert.isTrue(inbound.offerFrame(Effect.void))
      assert.isTrue(inbound.offerFrame(Effect.void))
      assert.isFalse(inbound.offerFrame(Effect.void))

      inbound.offerControl(Effect.sync(() => void ran.push("re-check 1")))
      // The reserve is for control items only: frames are still refused.
      assert.isFalse(inbound.offerFrame(Effect.void))
      inbound.offerControl(Effect.sync(() => void ran.push("re-check 2")))
      assert.strictEqual(lost, 0)
      for (let i = 0; i < 4; i++) yield* Effect.flatten(inbound.take)
      assert.deepStrictEqual(ran, ["re-check 1", "re-check 2"])
    })
  )

  it.effect("a control item that finds no place gives the connection up rather than being dropped", () =>
    Effect.gen(function* () {
      let lost = 0
      const inbound = yield* makeInbound({ frames: 1, reserve: 1 }, () => lost++)
      assert.isTrue(inbound.offerFrame(Effect.void))
      inbound.offerControl(Effect.void)
      assert.strictEqual(lost, 0)
      inbound.offerControl(Effect.void)
      assert.strictEqual(lost, 1)

      // Room again: the control item is queued, nothing more is given up.
      yield* Effect.flatten(inbound.take)
      inbound.offerControl(Effect.void)
      assert.strictEqual(lost, 1)
    })
  )
})
