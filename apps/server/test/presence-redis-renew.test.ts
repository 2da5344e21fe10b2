/**
 * The Redis presence heartbeat re-joins connections Redis lost while they were alive, but
 * never one whose leave was sent while the renewal ran: the store is a fake (memory store,
 * renew reporting connections missing), one re-join is held while a leave goes through.
 */
import { assert, describe, it } from "@effect/vitest"
import type { RoomId, UserId } from "@parley/domain"
import { Deferred, Duration, Effect, Fiber, Layer } from "effect"
import { Broker } from "../src/realtime/broker.ts"
import { makeRedisPresence } from "../src/realtime/presence-redis.ts"
import { memoryStore } from "../src/realtime/presence-store.ts"
import type { RedisPresenceStore } from "../src/realtime/presence-store-redis.ts"

const options = { window: Duration.millis(50), pageSize: 10, diffLimit: 100, ttl: Duration.seconds(30) }

describe("presence renewal (Redis)", () => {
  it.effect("a connection that leaves while the renewal re-joins another is not re-joined", () =>
    Effect.gen(function* () {
      const base = memoryStore()
      const held = Deferred.makeUnsafe<void>()
      const gate = Deferred.makeUnsafe<void>()
      const joins: Array<string> = []
      let renewing = false
      const store: RedisPresenceStore = {
        ...base,
        join: (roomId, entry) =>
          Effect.suspend(() => {
            joins.push(entry.connId)
            if (!renewing || entry.connId !== "tab-1") return base.join(roomId, entry)
            return Deferred.succeed(held, undefined).pipe(
              Effect.andThen(Deferred.await(gate)),
              Effect.andThen(base.join(roomId, entry))
            )
          }),
        // Redis lost both (this node paused longer than the TTL).
        renew: () => Effect.succeed({ missing: ["tab-1", "tab-2"], changes: [] })
      }
      const { service, renew } = yield* makeRedisPresence(store, options)
      // Its own heartbeat's first round runs now, with nothing to renew; the next is ttl/3 away on the TestClock.
      yield* Effect.yieldNow
      const roomId = crypto.randomUUID() as RoomId
      const userId = crypto.randomUUID() as UserId
      yield* service.join(roomId, { connId: "tab-1", userId, username: "ada" })
      yield* service.join(roomId, { connId: "tab-2", userId, username: "ada" })
      joins.length = 0
      renewing = true
      const renewal = yield* Effect.forkChild(renew)
      yield* Deferred.await(held)
      // Tab 2 closes while tab 1 is being joined again.
      yield* service.leave(roomId, "tab-2")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(renewal)
      assert.deepStrictEqual(joins, ["tab-1"])
    }).pipe(Effect.scoped, Effect.provide(Layer.fresh(Broker.layerMemory)))
  )
})
