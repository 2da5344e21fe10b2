/**
 * `effect/cluster`'s RunnerStorage on Redis: which server processes (runners) are alive, and
 * which runner holds each shard. Sharding decides what to acquire and when; this file only
 * keeps its records. A shard lock is a key holding its owner's address with an expiry of
 * `shardLockExpiration`; it is taken only when free or already ours, and renewed only while
 * ours, each check-and-set one Lua script so Redis runs it atomically.
 */
import { Duration, Effect, Layer } from "effect"
import { ClusterError, RunnerStorage } from "effect/cluster"
import { Redis } from "effect/persistence"

/** ARGV: address, expiration ms, shard ids… → the ids now held by address. */
const acquireScript = `
local held = {}
for i = 3, #ARGV do
  local key = KEYS[1] .. ARGV[i]
  local owner = redis.call("GET", key)
  if (not owner) or owner == ARGV[1] then
    redis.call("SET", key, ARGV[1], "PX", ARGV[2])
    redis.call("SADD", KEYS[2], ARGV[i])
    table.insert(held, ARGV[i])
  end
end
return held`

/** ARGV: address, expiration ms, shard ids… → the ids still held (and renewed). */
const refreshScript = `
local held = {}
for i = 3, #ARGV do
  local key = KEYS[1] .. ARGV[i]
  if redis.call("GET", key) == ARGV[1] then
    redis.call("PEXPIRE", key, ARGV[2])
    table.insert(held, ARGV[i])
  end
end
return held`

/** ARGV: address, shard ids… (empty: every shard the address holds). */
const releaseScript = `
local ids = {}
if #ARGV == 1 then ids = redis.call("SMEMBERS", KEYS[2]) else for i = 2, #ARGV do table.insert(ids, ARGV[i]) end end
for _, id in ipairs(ids) do
  local key = KEYS[1] .. id
  if redis.call("GET", key) == ARGV[1] then redis.call("DEL", key) end
  redis.call("SREM", KEYS[2], id)
end
return #ids`

/** `cluster` names the deployment: nodes with the same name form one cluster. */
export const layerRedis = (options: { readonly cluster: string; readonly shardLockExpiration: Duration.Duration }) =>
  Layer.effect(
    RunnerStorage.RunnerStorage,
    Effect.gen(function* () {
      const prefix = `parley:cluster:${options.cluster}:`
      const runnersKey = `${prefix}runners`
      const healthKey = `${prefix}health`
      const heartbeatsKey = `${prefix}heartbeats`
      const machineIdKey = `${prefix}machine-id`
      /** Shard locks are `<shardKeyPrefix><shard id>`; the scripts append the id themselves. */
      const shardKeyPrefix = `${prefix}shard:`
      const ownedKey = (address: string) => `${prefix}owned:${address}`
      const redis = yield* Redis.Redis
      const expirationMs = Duration.toMillis(options.shardLockExpiration)
      const fail = Effect.mapError((cause: unknown) => new ClusterError.PersistenceError({ cause }))
      const now = () => String(Date.now())
      const script = <A>(source: string, address: string, args: ReadonlyArray<string>) =>
        redis.send<A>("EVAL", source, "2", shardKeyPrefix, ownedKey(address), address, ...args)

      return RunnerStorage.makeEncoded({
        getRunners: Effect.gen(function* () {
          const alive = yield* redis.send<Array<string>>(
            "ZRANGEBYSCORE",
            heartbeatsKey,
            String(Date.now() - expirationMs),
            "+inf"
          )
          if (alive.length === 0) return []
          const runners = yield* redis.send<Array<string | null>>("HMGET", runnersKey, ...alive)
          const health = yield* redis.send<Array<string | null>>("HMGET", healthKey, ...alive)
          return runners.flatMap((runner, i) => (runner === null ? [] : [[runner, health[i] === "1"] as const]))
        }).pipe(fail),
        register: (address, runner, healthy) =>
          Effect.gen(function* () {
            yield* redis.send("HSET", runnersKey, address, runner)
            yield* redis.send("HSET", healthKey, address, healthy ? "1" : "0")
            yield* redis.send("ZADD", heartbeatsKey, now(), address)
            // Snowflake machine ids are 10 bits.
            return (yield* redis.send<number>("INCR", machineIdKey)) % 1024
          }).pipe(fail),
        unregister: (address) =>
          Effect.gen(function* () {
            yield* redis.send("HDEL", runnersKey, address)
            yield* redis.send("HDEL", healthKey, address)
            yield* redis.send("ZREM", heartbeatsKey, address)
          }).pipe(fail),
        setRunnerHealth: (address, healthy) =>
          redis.send("HSET", healthKey, address, healthy ? "1" : "0").pipe(Effect.asVoid, fail),
        acquire: (address, shardIds) =>
          script<Array<string>>(acquireScript, address, [String(expirationMs), ...shardIds]).pipe(fail),
        refresh: (address, shardIds) =>
          Effect.andThen(
            redis.send("ZADD", heartbeatsKey, now(), address),
            shardIds.length === 0
              ? Effect.succeed([])
              : script<Array<string>>(refreshScript, address, [String(expirationMs), ...shardIds])
          ).pipe(fail),
        release: (address, shardId) => script(releaseScript, address, [shardId]).pipe(Effect.asVoid, fail),
        releaseAll: (address) => script(releaseScript, address, []).pipe(Effect.asVoid, fail)
      })
    })
  )
