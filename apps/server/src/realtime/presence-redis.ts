import type { RoomId, UserId } from "@parley/domain"
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import { Redis } from "effect/persistence"
import { distinctUsers, Presence, type PresenceEntry } from "./presence.ts"

const key = (roomId: RoomId) => `parley:presence:${roomId}`
/** Usernames hold only [A-Za-z0-9_.-], so `|` cannot appear inside a field. */
const encode = (e: PresenceEntry) => `${e.connId}|${e.userId}|${e.username}`
const decode = (member: string): PresenceEntry => {
  const [connId, userId, username] = member.split("|")
  return { connId: connId!, userId: userId as UserId, username: username! }
}

/**
 * Presence shared by every node: one sorted set per room, each member a connection scored
 * by when it expires. This node re-scores its own connections every third of the TTL, so
 * a crashed node's connections fall out within one TTL.
 */
export const layerRedis = (ttl: Duration.Duration) =>
  Layer.effect(
    Presence,
    Effect.gen(function* () {
      const redis = yield* Redis.Redis
      const ttlMs = Duration.toMillis(ttl)
      const local = new Map<string, { roomId: RoomId; entry: PresenceEntry }>()
      const localKey = (roomId: RoomId, connId: string) => `${roomId}/${connId}`

      const score = (roomId: RoomId, entries: ReadonlyArray<PresenceEntry>) =>
        Effect.gen(function* () {
          const expiresAt = (yield* Clock.currentTimeMillis) + ttlMs
          const args = entries.flatMap((e) => [String(expiresAt), encode(e)])
          if (args.length > 0) yield* redis.send("ZADD", key(roomId), ...args)
          yield* redis.send("PEXPIRE", key(roomId), String(ttlMs * 2))
        })

      const heartbeat = Effect.gen(function* () {
        const byRoom = new Map<RoomId, Array<PresenceEntry>>()
        for (const { roomId, entry } of local.values()) byRoom.set(roomId, [...(byRoom.get(roomId) ?? []), entry])
        yield* Effect.forEach(byRoom, ([roomId, entries]) => score(roomId, entries), { concurrency: 4, discard: true })
      }).pipe(Effect.catchCause((cause) => Effect.logWarning("presence heartbeat failed", cause)))
      yield* heartbeat.pipe(Effect.repeat(Schedule.spaced(Duration.millis(ttlMs / 3))), Effect.forkScoped)

      return Presence.of({
        join: (roomId, entry) =>
          Effect.andThen(
            Effect.sync(() => local.set(localKey(roomId, entry.connId), { roomId, entry })),
            score(roomId, [entry])
          ),
        leave: (roomId, connId) => {
          const found = local.get(localKey(roomId, connId))
          local.delete(localKey(roomId, connId))
          return found === undefined
            ? Effect.void
            : redis.send("ZREM", key(roomId), encode(found.entry)).pipe(Effect.asVoid)
        },
        online: (roomId) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            yield* redis.send("ZREMRANGEBYSCORE", key(roomId), "-inf", String(now))
            const members = yield* redis.send<Array<string>>("ZRANGE", key(roomId), "0", "-1")
            return distinctUsers(members.map(decode))
          })
      })
    })
  )
