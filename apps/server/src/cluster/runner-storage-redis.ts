/**
 * `effect/cluster`'s RunnerStorage on Redis: which server processes (runners) are alive, and
 * which runner holds each shard. Sharding decides what to acquire and when; this file only
 * keeps its records, each read-check-write one Lua script so Redis runs it atomically, with
 * Redis's own clock (`TIME`) so nodes whose clocks disagree still agree on ages.
 *
 * - A runner is live while its heartbeat (renewed by every lock refresh) is younger than the
 *   lease and no health check flagged it unhealthy. `getRunners` lists only live runners.
 * - A shard lock is a key holding its owner's address, expiring after the lease. A runner
 *   takes it when it is free, already its own, or held by a runner that is no longer live
 *   while the taker is: a crashed owner's shards move as soon as a health check or its
 *   silence says so, not when its lock expires. A live holder never loses a lock to anyone.
 * - A runner silent for `pruneAfter` is gone: its records are deleted and its machine id
 *   freed. Machine ids (10 bits in Snowflake ids) are the lowest free among registered runners.
 */
import { Duration, Effect, Layer } from "effect"
import { ClusterError, RunnerStorage } from "effect/cluster"
import { Redis } from "effect/persistence"
import { UnguardedRedis } from "../redis/client.ts"

export interface RedisRunnerStorageOptions {
  /** Nodes with the same cluster name form one cluster. */
  readonly cluster: string
  /** How long a shard lock and a heartbeat stay valid without renewal. */
  readonly lease: Duration.Duration
  /** A runner silent this long is deleted from the records, its machine id freed. */
  readonly pruneAfter: Duration.Duration
}

/** Snowflake ids give the machine id 10 bits. */
export const maxMachineIds = 1024

/**
 * Shared by every script. KEYS[1] is the cluster's key prefix, ARGV[1] the lease in ms.
 * `live` is the one definition of a live runner used for listing and for taking locks.
 */
const prelude = `
local prefix = KEYS[1]
local lease = tonumber(ARGV[1])
local runnersKey, healthKey, beatsKey, idsKey = prefix .. "runners", prefix .. "health", prefix .. "heartbeats", prefix .. "machine-ids"
local shardKey = function(id) return prefix .. "shard:" .. id end
local ownedKey = function(address) return prefix .. "owned:" .. address end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function live(address)
  local beat = redis.call("ZSCORE", beatsKey, address)
  return beat ~= false and tonumber(beat) >= now - lease and redis.call("HGET", healthKey, address) ~= "0"
end
local function forget(address)
  redis.call("HDEL", runnersKey, address)
  redis.call("HDEL", healthKey, address)
  redis.call("HDEL", idsKey, address)
end
local function prune(pruneAfter)
  for _, address in ipairs(redis.call("ZRANGEBYSCORE", beatsKey, "-inf", "(" .. (now - pruneAfter))) do
    forget(address)
    redis.call("ZREM", beatsKey, address)
    redis.call("DEL", ownedKey(address))
  end
end
`

/** A script over one key (the cluster's prefix), run by its SHA once Redis knows it. */
const lua = <A>(source: string) =>
  Redis.script((...args: ReadonlyArray<string>) => args, { lua: source, numberOfKeys: 1 }).withReturnType<A>()

/** ARGV: lease, pruneAfter, address, runner, healthy ("1"/"0") → machine id. */
const registerScript = lua<number>(`${prelude}
prune(tonumber(ARGV[2]))
local address = ARGV[3]
local id = redis.call("HGET", idsKey, address)
if not id then
  local used = {}
  for _, v in ipairs(redis.call("HVALS", idsKey)) do used[tonumber(v)] = true end
  for i = 0, ${maxMachineIds - 1} do
    if not used[i] then id = i break end
  end
  if not id then return redis.error_reply("no free machine id: ${maxMachineIds} runners are registered") end
  redis.call("HSET", idsKey, address, id)
end
redis.call("HSET", runnersKey, address, ARGV[4])
redis.call("HSET", healthKey, address, ARGV[5])
redis.call("ZADD", beatsKey, now, address)
return tonumber(id)`)

/** ARGV: lease, pruneAfter → [runner, healthy ("1"/"0"), …] for every live runner. */
const getRunnersScript = lua<Array<string>>(`${prelude}
prune(tonumber(ARGV[2]))
local out = {}
for _, address in ipairs(redis.call("ZRANGEBYSCORE", beatsKey, now - lease, "+inf")) do
  local runner = redis.call("HGET", runnersKey, address)
  if runner then
    table.insert(out, runner)
    table.insert(out, redis.call("HGET", healthKey, address) == "0" and "0" or "1")
  end
end
return out`)

/**
 * ARGV: lease, address. Gone from the listing, but its heartbeat stays (and its refreshes go
 * on) until it has released its shards: while it hands them off, nobody takes them from it.
 */
const unregisterScript = lua<number>(`${prelude}
forget(ARGV[2])
return 0`)

/** ARGV: lease, address, healthy ("1"/"0"); a runner no longer registered is left alone. */
const setHealthScript = lua<number>(`${prelude}
if redis.call("HEXISTS", runnersKey, ARGV[2]) == 1 then redis.call("HSET", healthKey, ARGV[2], ARGV[3]) end
return 0`)

/** ARGV: lease, address, shard ids… → the ids now held by address. */
const acquireScript = lua<Array<string>>(`${prelude}
local address = ARGV[2]
local mayTakeOver = live(address)
local held = {}
for i = 3, #ARGV do
  local key = shardKey(ARGV[i])
  local owner = redis.call("GET", key)
  if (not owner) or owner == address or (mayTakeOver and not live(owner)) then
    if owner and owner ~= address then redis.call("SREM", ownedKey(owner), ARGV[i]) end
    redis.call("SET", key, address, "PX", lease)
    redis.call("SADD", ownedKey(address), ARGV[i])
    table.insert(held, ARGV[i])
  end
end
return held`)

/** ARGV: lease, address, shard ids… → the ids still held (and renewed); renews the heartbeat. */
const refreshScript = lua<Array<string>>(`${prelude}
local address = ARGV[2]
redis.call("ZADD", beatsKey, now, address)
local held = {}
for i = 3, #ARGV do
  local key = shardKey(ARGV[i])
  if redis.call("GET", key) == address then
    redis.call("PEXPIRE", key, lease)
    table.insert(held, ARGV[i])
  else
    redis.call("SREM", ownedKey(address), ARGV[i])
  end
end
return held`)

/** ARGV: lease, address, shard ids… (none: every shard the address holds). */
const releaseScript = lua<number>(`${prelude}
local address = ARGV[2]
local ids = {}
if #ARGV == 2 then ids = redis.call("SMEMBERS", ownedKey(address)) else for i = 3, #ARGV do table.insert(ids, ARGV[i]) end end
for _, id in ipairs(ids) do
  local key = shardKey(id)
  if redis.call("GET", key) == address then redis.call("DEL", key) end
  redis.call("SREM", ownedKey(address), id)
end
return #ids`)

export const layerRedis = (options: RedisRunnerStorageOptions) =>
  Layer.effect(
    RunnerStorage.RunnerStorage,
    Effect.gen(function* () {
      // Past the circuit breaker: Sharding bounds and retries its own calls, and a refresh
      // refused by a breaker that an unrelated slow command opened would drop every shard.
      const redis = yield* UnguardedRedis
      const prefix = `parley:cluster:${options.cluster}:`
      const lease = String(Duration.toMillis(options.lease))
      const pruneAfter = String(Duration.toMillis(options.pruneAfter))
      const fail = Effect.mapError((cause: unknown) => new ClusterError.PersistenceError({ cause }))
      const run = <A>(
        script: Redis.Script<{ params: ReadonlyArray<string>; result: A }>,
        ...args: ReadonlyArray<string>
      ) =>
        redis
          .eval(script)(prefix, lease, ...args)
          .pipe(fail)
      const flag = (healthy: boolean) => (healthy ? "1" : "0")

      return RunnerStorage.makeEncoded({
        getRunners: Effect.map(run<Array<string>>(getRunnersScript, pruneAfter), (flat) => {
          const runners: Array<readonly [string, boolean]> = []
          for (let i = 0; i + 1 < flat.length; i += 2) runners.push([flat[i]!, flat[i + 1] === "1"])
          return runners
        }),
        register: (address, runner, healthy) => run<number>(registerScript, pruneAfter, address, runner, flag(healthy)),
        unregister: (address) => Effect.asVoid(run(unregisterScript, address)),
        setRunnerHealth: (address, healthy) => Effect.asVoid(run(setHealthScript, address, flag(healthy))),
        acquire: (address, shardIds) => run<Array<string>>(acquireScript, address, ...shardIds),
        refresh: (address, shardIds) => run<Array<string>>(refreshScript, address, ...shardIds),
        release: (address, shardId) => Effect.asVoid(run(releaseScript, address, shardId)),
        releaseAll: (address) => Effect.asVoid(run(releaseScript, address))
      })
    })
  )
