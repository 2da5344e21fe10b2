/**
 * The cluster's Redis records against the real Redis: who may take a shard lock from whom,
 * which runners are listed, when a dead runner's records go, and which machine id a runner
 * gets. Ages are set by writing a heartbeat into the past, never by waiting.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Duration, Effect, Redacted } from "effect"
import { Runner, RunnerAddress, RunnerStorage, ShardId } from "effect/cluster"
import { Redis } from "effect/persistence"
import { layerRedis, maxMachineIds } from "../src/cluster/runner-storage-redis.ts"
import * as RedisClient from "../src/redis/client.ts"

const redisUrl = process.env.REDIS_URL
if (!redisUrl) throw new Error("REDIS_URL must be set: run the suite through `npm test`")

const lease = Duration.seconds(2)
const pruneAfter = Duration.minutes(1)
const shard = (id: number) => ShardId.make("default", id)
const address = (port: number) => RunnerAddress.make("127.0.0.1", port)
const runner = (port: number) => new Runner.Runner({ address: address(port), groups: ["default"], weight: 1 })

/** A fresh cluster (its own keys) per test, so tests neither see nor disturb each other. */
const cluster = () => `test-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9)}`

const withStorage = <A, E>(
  body: (storage: RunnerStorage.RunnerStorage["Service"], keys: Keys) => Effect.Effect<A, E, Redis.Redis>
) => {
  const name = cluster()
  return Effect.gen(function* () {
    const prefix = `parley:cluster:${name}:`
    const redis = yield* Redis.Redis
    const storage = yield* RunnerStorage.RunnerStorage
    const keys = makeKeys(redis, prefix)
    return yield* body(storage, keys).pipe(Effect.ensuring(Effect.ignore(keys.dropAll)))
  }).pipe(Effect.provide(layerRedis({ cluster: name, lease, pruneAfter })))
}

interface Keys {
  /** Moves a runner's last heartbeat `ms` into the past, as if it had been silent since. */
  readonly silence: (port: number, ms: number) => Effect.Effect<void, unknown>
  readonly recordsOf: (port: number) => Effect.Effect<ReadonlyArray<unknown>, unknown>
  readonly lockHolder: (id: number) => Effect.Effect<string | null, unknown>
  readonly dropAll: Effect.Effect<void, unknown>
}

const makeKeys = (redis: Redis.Redis["Service"], prefix: string): Keys => {
  const name = (port: number) => `127.0.0.1:${port}`
  return {
    silence: (port, ms) =>
      Effect.gen(function* () {
        // Redis's clock to the millisecond, as the scripts read it: dropping the microseconds
        // would make a runner up to a second older than meant.
        const [seconds, micros] = yield* redis.send<[string, string]>("TIME")
        const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
        yield* redis.send("ZADD", `${prefix}heartbeats`, String(now - ms), name(port))
      }),
    recordsOf: (port) =>
      Effect.all([
        redis.send("HGET", `${prefix}runners`, name(port)),
        redis.send("HGET", `${prefix}health`, name(port)),
        redis.send("ZSCORE", `${prefix}heartbeats`, name(port)),
        redis.send("HGET", `${prefix}machine-ids`, name(port)),
        redis.send("EXISTS", `${prefix}owned:${name(port)}`)
      ]),
    lockHolder: (id) => redis.send<string | null>("GET", `${prefix}shard:default:${id}`),
    dropAll: Effect.gen(function* () {
      const keys = yield* redis.send<Array<string>>("KEYS", `${prefix}*`)
      if (keys.length > 0) yield* redis.send("DEL", ...keys)
    })
  }
}

const ports = (storage: RunnerStorage.RunnerStorage["Service"]) =>
  Effect.map(storage.getRunners, (runners) =>
    runners.map(([r, healthy]) => [r.address.port, healthy] as const).sort(([a], [b]) => a - b)
  )

layer(RedisClient.layer(Redacted.make(redisUrl)), { timeout: 120_000 })("Redis runner storage", (it) => {
  describe("shard locks", () => {
    it.effect("a live holder keeps its lock; a runner flagged unhealthy loses it to a live one", () =>
      withStorage((storage, keys) =>
        Effect.gen(function* () {
          yield* storage.register(runner(1), true)
          yield* storage.register(runner(2), true)
          expect(yield* storage.acquire(address(1), [shard(1), shard(2)])).toEqual([shard(1), shard(2)])
          expect(yield* storage.acquire(address(2), [shard(1), shard(2)])).toEqual([])

          // The health check found runner 1's socket refusing pings.
          yield* storage.setRunnerHealth(address(1), false)
          expect(yield* storage.acquire(address(2), [shard(1)])).toEqual([shard(1)])
          expect(yield* keys.lockHolder(1)).toBe("127.0.0.1:2")
          // The deposed holder learns it on its next refresh, and keeps what nobody took.
          expect(yield* storage.refresh(address(1), [shard(1), shard(2)])).toEqual([shard(2)])
        })
      )
    )

    it.effect("a holder silent for longer than the lease loses its lock; one silent for less keeps it", () =>
      withStorage((storage, keys) =>
        Effect.gen(function* () {
          yield* storage.register(runner(1), true)
          yield* storage.register(runner(2), true)
          yield* storage.acquire(address(1), [shard(1)])
          yield* keys.silence(1, Duration.toMillis(lease) - 500)
          expect(yield* storage.acquire(address(2), [shard(1)])).toEqual([])
          yield* keys.silence(1, Duration.toMillis(lease) + 500)
          expect(yield* storage.acquire(address(2), [shard(1)])).toEqual([shard(1)])
        })
      )
    )

    it.effect("a runner that is not live itself takes no lock from another", () =>
      withStorage((storage, keys) =>
        Effect.gen(function* () {
          yield* storage.register(runner(1), true)
          yield* storage.register(runner(2), true)
          yield* storage.acquire(address(1), [shard(1)])
          yield* storage.setRunnerHealth(address(1), false)
          // Runner 2 is silent as well: it cannot tell it is the survivor.
          yield* keys.silence(2, Duration.toMillis(lease) + 500)
          expect(yield* storage.acquire(address(2), [shard(1)])).toEqual([])
          yield* storage.setRunnerHealth(address(2), false)
          yield* storage.refresh(address(2), [])
          expect(yield* storage.acquire(address(2), [shard(1)])).toEqual([])
          // A free shard is free for anyone the assignment gives it to.
          expect(yield* storage.acquire(address(2), [shard(3)])).toEqual([shard(3)])
        })
      )
    )

    it.effect("a runner that unregistered keeps its locks while it hands them off", () =>
      withStorage((storage) =>
        Effect.gen(function* () {
          yield* storage.register(runner(1), true)
          yield* storage.register(runner(2), true)
          yield* storage.acquire(address(1), [shard(1)])
          yield* storage.unregister(address(1))
          expect(yield* ports(storage)).toEqual([[2, true]])
          expect(yield* storage.acquire(address(2), [shard(1)])).toEqual([])
          yield* storage.releaseAll(address(1))
          expect(yield* storage.acquire(address(2), [shard(1)])).toEqual([shard(1)])
        })
      )
    )
  })

  describe("runners", () => {
    it.effect("lists live runners with their health, not silent ones", () =>
      withStorage((storage, keys) =>
        Effect.gen(function* () {
          yield* storage.register(runner(1), true)
          yield* storage.register(runner(2), true)
          yield* storage.register(runner(3), false)
          yield* storage.setRunnerHealth(address(2), false)
          expect(yield* ports(storage)).toEqual([
            [1, true],
            [2, false],
            [3, false]
          ])
          yield* keys.silence(1, Duration.toMillis(lease) + 500)
          expect(yield* ports(storage)).toEqual([
            [2, false],
            [3, false]
          ])
          // Its refresh (the heartbeat) brings it back.
          yield* storage.refresh(address(1), [])
          expect((yield* ports(storage)).map(([p]) => p)).toEqual([1, 2, 3])
        })
      )
    )

    it.effect("a runner silent for pruneAfter is deleted, and its machine id goes to the next runner", () =>
      withStorage((storage, keys) =>
        Effect.gen(function* () {
          expect(yield* storage.register(runner(1), true)).toBe(0)
          expect(yield* storage.register(runner(2), true)).toBe(1)
          yield* storage.acquire(address(1), [shard(1)])
          yield* keys.silence(1, Duration.toMillis(pruneAfter) + 1000)
          yield* storage.getRunners
          expect(yield* keys.recordsOf(1)).toEqual([null, null, null, null, 0])
          expect(yield* storage.register(runner(3), true)).toBe(0)
          // Setting the health of a pruned runner does not bring its records back.
          yield* storage.setRunnerHealth(address(1), true)
          expect(yield* keys.recordsOf(1)).toEqual([null, null, null, null, 0])
        })
      )
    )
  })

  describe("machine ids", () => {
    it.effect("each runner gets the lowest free id, keeps it when it registers again, frees it when it leaves", () =>
      withStorage((storage) =>
        Effect.gen(function* () {
          expect(yield* storage.register(runner(1), true)).toBe(0)
          expect(yield* storage.register(runner(2), true)).toBe(1)
          expect(yield* storage.register(runner(3), true)).toBe(2)
          expect(yield* storage.register(runner(2), true)).toBe(1)
          yield* storage.unregister(address(2))
          expect(yield* storage.register(runner(4), true)).toBe(1)
          expect(yield* storage.register(runner(5), true)).toBe(3)
        })
      )
    )

    it.effect(`never wrap: ${maxMachineIds} runners get distinct ids, one more is refused until one leaves`, () =>
      withStorage((storage) =>
        Effect.gen(function* () {
          const ids = yield* Effect.forEach(
            Array.from({ length: maxMachineIds }, (_, i) => 10_000 + i),
            (port) => storage.register(runner(port), true),
            { concurrency: 16 }
          )
          expect(new Set(ids).size).toBe(maxMachineIds)
          expect(Math.max(...ids)).toBe(maxMachineIds - 1)
          const refused = yield* Effect.flip(storage.register(runner(9_999), true))
          expect(refused._tag).toBe("PersistenceError")
          yield* storage.unregister(address(10_500))
          expect(yield* storage.register(runner(9_999), true)).toBe(ids[500])
        })
      )
    )
  })
})
