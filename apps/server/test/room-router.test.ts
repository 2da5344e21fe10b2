/**
 * The cluster router while a room has no owner (its owner crashed, no node has taken the
 * shard yet): Sharding retries the forward without end, and the router must answer senders
 * with `service_unavailable` and a retry hint, never `overloaded`, and without waiting long.
 * A real Sharding that knows no runner at all stands in for the gap. Live clock: Sharding's
 * shutdown waits on its own timers, which a TestClock would never fire; the tests wait out
 * the router's own timeouts (2 s, 1 s), and assert nothing about elapsed time.
 */
import { describe, expect, it } from "@effect/vitest"
import type { RoomId, UserId } from "@parley/domain"
import { Effect, Fiber, Layer, Option } from "effect"
import { MessageStorage, RunnerHealth, RunnerStorage, Runners, Sharding, ShardingConfig } from "effect/cluster"
import { RoomRouter } from "../src/chat/room-router.ts"

const ownerless = RoomRouter.layerCluster.pipe(
  Layer.provide(Sharding.layer),
  Layer.provide(Runners.layerNoop),
  Layer.provide([MessageStorage.layerNoop, RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
  Layer.provide(ShardingConfig.layer({ runnerAddress: Option.none() }))
)

const roomId = "0b3f4c2e-4d6a-4a59-9c43-6f1e1d1b2a10" as RoomId
const send = (i: number) => ({
  roomId,
  userId: "5d1e6a0c-7b7e-4a43-9a3c-2f0e5b6c7d8e" as UserId,
  username: "u",
  text: `m${i}`,
  clientMsgId: `c${i}`
})

describe("room router without an owner", () => {
  it.live("the send and every send waiting behind it fail together with service_unavailable and a hint", () =>
    Effect.gen(function* () {
      const router = yield* RoomRouter
      const first = yield* router.submit(send(0))
      // The first send is now the forward under way; the rest wait behind it.
      yield* Effect.yieldNow
      const waits = [first, ...(yield* Effect.forEach([1, 2, 3, 4], (i) => router.submit(send(i))))]
      const answers = yield* Effect.forEach(waits, (wait) => Effect.forkChild(Effect.flip(wait)))
      yield* Fiber.join(answers[0]!)
      // The others' replies were completed with the first's; let their fibers take them.
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      // Answered with the forward, not one forward timeout after another.
      for (const answer of answers) expect(answer.pollUnsafe(), "answered with the first").toBeDefined()
      for (const error of yield* Effect.forEach(answers, Fiber.join)) {
        expect(error._tag).toBe("ServiceUnavailable")
        expect(error._tag === "ServiceUnavailable" && error.retryAfterSeconds).toBe(1)
      }
    }).pipe(Effect.provide(ownerless))
  )

  it.live("a queue full behind a forward that the owner has not answered for a while is no overload", () =>
    Effect.gen(function* () {
      const router = yield* RoomRouter
      yield* Effect.asVoid(router.submit(send(0)))
      // The first send is now the forward under way; the rest wait behind it.
      yield* Effect.yieldNow
      yield* Effect.forEach(
        Array.from({ length: 1024 }, (_, i) => i + 1),
        (i) => router.submit(send(i))
      )
      // Full behind a forward unanswered for a second: the owner is missing, the room is not busy.
      yield* Effect.sleep("1 second")
      const refused = yield* Effect.flip(router.submit(send(2001)))
      expect(refused._tag).toBe("ServiceUnavailable")
      expect(refused._tag === "ServiceUnavailable" && refused.retryAfterSeconds).toBe(1)
    }).pipe(Effect.provide(ownerless))
  )
})
