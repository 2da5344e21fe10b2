/**
 * The presence store shared by every node, in Redis. Per room (keys under
 * `parley:presence:{room}:`, one hash slot):
 * - `conns`: sorted set, connection id → when it expires (Redis's clock, ms);
 * - `owner`: hash, connection id → its user key;
 * - `refs`: hash, user key → how many live connections that user has in the room;
 * - `users`: sorted set of user keys, all scored 0, so `ZRANGEBYLEX` pages them in key order.
 *
 * Each change is one Lua script, so the per-user count and the user list move together
 * atomically whichever node runs it. A node renews its own connections every third of the
 * TTL; a node that dies says no goodbye, so its connections expire and the next sweep (any
 * node's renewal, or any join into the room) takes them out and reports their users as left.
 */
import type { RoomId } from "@parley/domain"
import { Duration, Effect } from "effect"
import { Redis } from "effect/persistence"
import { type PresenceChange, type PresenceEntry, type PresenceStore, userKey, userOfKey } from "./presence-store.ts"

const prefix = (roomId: RoomId) => `parley:presence:{${roomId}}:`

/** Expired connections taken out per sweep: bounded, so no one script runs long; the next sweep takes more. */
const sweepLimit = 200

/** KEYS[1] is the room's key prefix, ARGV[1] the TTL in ms. Changes are "+key" (joined) and "-key" (left). */
const prelude = `
local p = KEYS[1]
local ttl = tonumber(ARGV[1])
local connsKey, ownerKey, refsKey, usersKey = p .. "conns", p .. "owner", p .. "refs", p .. "users"
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local changes = {}
local function drop(conn)
  redis.call("ZREM", connsKey, conn)
  local user = redis.call("HGET", ownerKey, conn)
  if not user then return end
  redis.call("HDEL", ownerKey, conn)
  if redis.call("HINCRBY", refsKey, user, -1) <= 0 then
    redis.call("HDEL", refsKey, user)
    redis.call("ZREM", usersKey, user)
    table.insert(changes, "-" .. user)
  end
end
local function add(conn, user)
  redis.call("ZADD", connsKey, now + ttl, conn)
  if redis.call("HSETNX", ownerKey, conn, user) == 0 then return end
  if redis.call("HINCRBY", refsKey, user, 1) == 1 then
    redis.call("ZADD", usersKey, 0, user)
    table.insert(changes, "+" .. user)
  end
end
local function sweep()
  for _, conn in ipairs(redis.call("ZRANGEBYSCORE", connsKey, "-inf", now, "LIMIT", 0, ${sweepLimit})) do drop(conn) end
end
local function keep()
  for _, key in ipairs({connsKey, ownerKey, refsKey, usersKey}) do redis.call("PEXPIRE", key, ttl * 2) end
end
`

const lua = <A>(source: string) =>
  Redis.script((...args: ReadonlyArray<string>) => args, { lua: source, numberOfKeys: 1 }).withReturnType<A>()

/** ARGV[2] connection, ARGV[3] user key → changes (expired users first, then the joiner). */
const joinScript = lua<Array<string>>(`${prelude}
sweep()
add(ARGV[2], ARGV[3])
keep()
return changes`)

/** ARGV[2] connection → changes. */
const leaveScript = lua<Array<string>>(`${prelude}
drop(ARGV[2])
return changes`)

/**
 * ARGV[2..] this node's live connections in the room. Renews those still there (never
 * re-adds one: a leave may have crossed this renewal on the way) and sweeps the expired.
 * → the connections that were missing, then "", then the changes.
 */
const renewScript = lua<Array<string>>(`${prelude}
local missing = {}
for i = 2, #ARGV do
  if redis.call("ZSCORE", connsKey, ARGV[i]) then redis.call("ZADD", connsKey, now + ttl, ARGV[i])
  else table.insert(missing, ARGV[i]) end
end
sweep()
keep()
table.insert(missing, "")
for _, c in ipairs(changes) do table.insert(missing, c) end
return missing`)

/** ARGV[2] the key to page after ("" from the start), ARGV[3] limit → count, then up to limit + 1 user keys. */
const pageScript = lua<[number, ...Array<string>]>(`${prelude}
local from = ARGV[2] == "" and "-" or "(" .. ARGV[2]
local result = redis.call("ZRANGEBYLEX", usersKey, from, "+", "LIMIT", 0, tonumber(ARGV[3]) + 1)
table.insert(result, 1, redis.call("ZCARD", usersKey))
return result`)

/** ARGV[2..] user keys → the count, then 1 or 0 per key: online now or not. */
const stateScript = lua<[number, ...Array<number>]>(`${prelude}
local result = { redis.call("ZCARD", usersKey) }
for i = 2, #ARGV do table.insert(result, redis.call("HEXISTS", refsKey, ARGV[i])) end
return result`)

const toChanges = (raw: ReadonlyArray<string>): ReadonlyArray<PresenceChange> =>
  raw.map((c) => ({ joined: c.startsWith("+"), user: userOfKey(c.slice(1)) }))

export interface RedisPresenceStore extends PresenceStore {
  /**
   * Renews this node's connections in a room and sweeps its expired ones. Returns the
   * connections Redis no longer had (swept while alive, e.g. after a long pause: the caller
   * joins them again) and the users who left through expiry.
   */
  readonly renew: (
    roomId: RoomId,
    connIds: ReadonlyArray<string>
  ) => Effect.Effect<
    { readonly missing: ReadonlyArray<string>; readonly changes: ReadonlyArray<PresenceChange> },
    Redis.RedisError
  >
}

export const redisStore = (redis: Redis.Redis["Service"], ttl: Duration.Duration): RedisPresenceStore => {
  const ttlMs = String(Math.max(1, Math.round(Duration.toMillis(ttl))))
  return {
    join: (roomId, entry: PresenceEntry) =>
      Effect.map(
        redis.eval(joinScript)(prefix(roomId), ttlMs, entry.connId, userKey(entry.userId, entry.username)),
        toChanges
      ),
    leave: (roomId, connId) => Effect.map(redis.eval(leaveScript)(prefix(roomId), ttlMs, connId), toChanges),
    page: (roomId, after, limit) =>
      Effect.map(redis.eval(pageScript)(prefix(roomId), ttlMs, after ?? "", String(limit)), ([count, ...keys]) => {
        // One key past the page says whether another page follows.
        const users = keys.slice(0, limit)
        return {
          users: users.map(userOfKey),
          count: Number(count),
          next: keys.length > limit ? users[users.length - 1]! : null
        }
      }),
    state: (roomId, keys) =>
      Effect.map(redis.eval(stateScript)(prefix(roomId), ttlMs, ...keys), ([count, ...online]) => ({
        count: Number(count),
        online: online.map((flag) => flag === 1)
      })),
    renew: (roomId, connIds) =>
      Effect.map(redis.eval(renewScript)(prefix(roomId), ttlMs, ...connIds), (raw) => {
        const split = raw.indexOf("")
        return { missing: raw.slice(0, split), changes: toChanges(raw.slice(split + 1)) }
      })
  }
}
