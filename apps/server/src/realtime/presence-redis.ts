import type { RoomId, UserId } from "@parley/domain"
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import { Redis } from "effect/persistence"
import { Broker } from "./broker.ts"
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
      const broker = yield* Broker
      const ttlMs = Duration.toMillis(ttl)
      const local = new Map<string, { roomId: RoomId; entry: PresenceEntry }>()
      const localKey = (roomId: RoomId, connId: string) => `${roomId}/${connId}`

      /** `renew` only extends entries still there (XX), so a heartbeat never revives a leave. */
      const score = (roomId: RoomId, entries: ReadonlyArray<PresenceEntry>, mode: "join" | "renew") =>
        Effect.gen(function* () {
          const expiresAt = (yield* Clock.currentTimeMillis) + ttlMs
          const args = entries.flatMap((e) => [String(expiresAt), encode(e)])
          if (args.length > 0) yield* redis.send("ZADD", key(roomId), ...(mode === "renew" ? ["XX"] : []), ...args)
          yield* redis.send("PEXPIRE", key(roomId), String(ttlMs * 2))
        })

      const online = (roomId: RoomId) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          yield* redis.send("ZREMRANGEBYSCORE", key(roomId), "-inf", String(now))
          const members = yield* redis.send<Array<string>>("ZRANGE", key(roomId), "0", "-1")
          return distinctUsers(members.map(decode))
        })

      /** What this node last saw online per room it has connections in. */
      const seen = new Map<RoomId, string>()
      /**
       * A node that dies says no goodbye: its entries just expire. Each heartbeat compares who
       * is online in this node's rooms with what it last saw and announces any change.
       */
      const announceChanges = (roomId: RoomId) =>
        Effect.gen(function* () {
          const users = yield* online(roomId)
          const now = JSON.stringify(users)
          const before = seen.get(roomId)
          seen.set(roomId, now)
          if (before !== undefined && before !== now) yield* broker.publish(roomId, { kind: "presence", online: users })
        })

      const heartbeat = Effect.gen(function* () {
        const byRoom = new Map<RoomId, Array<PresenceEntry>>()
        for (const { roomId, entry } of local.values()) byRoom.set(roomId, [...(byRoom.get(roomId) ?? []), entry])
        for (const roomId of seen.keys()) if (!byRoom.has(roomId)) seen.delete(roomId)
        yield* Effect.forEach(
          byRoom,
          ([roomId, entries]) => Effect.andThen(score(roomId, entries, "renew"), announceChanges(roomId)),
          { concurrency: 4, discard: true }
        )
      }).pipe(Effect.catchCause((cause) => Effect.logWarning("presence heartbeat failed", cause)))
      yield* heartbeat.pipe(Effect.repeat(Schedule.spaced(Duration.millis(ttlMs / 3))), Effect.forkScoped)

      return Presence.of({
        join: (roomId, entry) =>
          Effect.andThen(
            Effect.sync(() => local.set(localKey(roomId, entry.connId), { roomId, entry })),
            score(roomId, [entry], "join")
          ),
        leave: (roomId, connId) => {
          const found = local.get(localKey(roomId, connId))
          local.delete(localKey(roomId, connId))
          return found === undefined
            ? Effect.void
            : redis.send("ZREM", key(roomId), encode(found.entry)).pipe(Effect.asVoid)
        },
        online
      })
    })
  )
