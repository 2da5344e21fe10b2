/**
 * The Redis circuit breaker (`redis/client.ts`) on a fake connection whose answers the test
 * withholds: it opens only after more than one silent command in a row, and the cluster's
 * runner storage still reaches Redis while it is open, bounded all the same, its own silent
 * commands counting toward opening it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect } from "effect"
import type { Redis } from "effect/persistence"
import { guard, silentCommandsToTrip } from "../src/redis/client.ts"

const config = { commandTimeout: Duration.millis(20), retryAfter: Duration.minutes(10) }

/** A connection that answers "PONG" unless `silent` is set; counts what reached it. */
const fakeRedis = () => {
  const state = { silent: false, received: 0 }
  const send: Redis.Redis["Service"]["send"] = <A>() =>
    Effect.suspend(() => {
      state.received++
      return state.silent ? Effect.never : Effect.succeed("PONG" as A)
    })
  return { state, send }
}

const silentCommands = (send: Redis.Redis["Service"]["send"], count: number) =>
  Effect.forEach(Array.from({ length: count }), () => Effect.flip(send("PING")), { discard: true })

describe("Redis circuit breaker", () => {
  it.live("fewer silent commands in a row than the threshold refuse nothing; the threshold opens it", () =>
    Effect.gen(function* () {
      const redis = fakeRedis()
      const { guarded } = yield* guard(config)
      const send = guarded(redis.send)
      redis.state.silent = true
      yield* silentCommands(send, silentCommandsToTrip - 1)
      redis.state.silent = false
      assert.strictEqual(yield* send("PING"), "PONG")

      redis.state.silent = true
      yield* silentCommands(send, silentCommandsToTrip)
      redis.state.silent = false
      const before = redis.state.received
      const refused = yield* Effect.flip(send("PING"))
      assert.strictEqual((refused.cause as { _tag?: string })._tag, "CircuitBreakerError")
      assert.strictEqual(redis.state.received, before, "refused without being sent")
    })
  )

  it.live("the runner storage's path reaches Redis while the breaker is open, still bounded by the timeout", () =>
    Effect.gen(function* () {
      const redis = fakeRedis()
      const { guarded, observed } = yield* guard(config)
      redis.state.silent = true
      yield* silentCommands(guarded(redis.send), silentCommandsToTrip)
      redis.state.silent = false
      const before = redis.state.received
      assert.isTrue((yield* Effect.flip(guarded(redis.send)("PING"))).cause !== undefined)
      assert.strictEqual(redis.state.received, before)
      assert.strictEqual(yield* observed(redis.send)("PING"), "PONG")
      redis.state.silent = true
      const timedOut = yield* Effect.flip(observed(redis.send)("PING"))
      assert.isTrue(Cause.isTimeoutError(timedOut.cause))
    })
  )

  it.live("the runner storage's silent commands count: they open the breaker for everyone else", () =>
    Effect.gen(function* () {
      const redis = fakeRedis()
      const { guarded, observed } = yield* guard(config)
      redis.state.silent = true
      yield* silentCommands(observed(redis.send), silentCommandsToTrip)
      redis.state.silent = false
      const refused = yield* Effect.flip(guarded(redis.send)("PING"))
      assert.strictEqual((refused.cause as { _tag?: string })._tag, "CircuitBreakerError")
    })
  )
})
