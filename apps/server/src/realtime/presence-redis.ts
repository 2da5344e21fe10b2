import type { RoomId } from "@parley/domain"
import { Duration, Effect, Layer, Schedule } from "effect"
import { Redis } from "effect/persistence"
import { makePresence, Presence, type PresenceOptions } from "./presence.ts"
import type { PresenceEntry, PresenceStore } from "./presence-store.ts"
import { type RedisPresenceStore, redisStore } from "./presence-store-redis.ts"

/**
 * Presence shared by every node. This node remembers its own connections per room and
 * renews them every third of `ttl`; each renewal also sweeps the room's expired connections
 * (a dead node's), whose users are then announced as left. A connection Redis lost while it
 * was alive (this node paused longer than the TTL) is joined again.
 */
export const layerRedis = (options: PresenceOptions & { readonly ttl: Duration.Duration }) =>
  Layer.effect(
    Presence,
    Effect.flatMap(Redis.Redis, (redis) =>
      Effect.map(makeRedisPresence(redisStore(redis, options.ttl), options), ({ service }) => service)
    )
  )

/** The service over a shared store, and `renew` (one heartbeat, run now; tests call it). */
export const makeRedisPresence = (
  store: RedisPresenceStore,
  options: PresenceOptions & { readonly ttl: Duration.Duration }
) =>
  Effect.gen(function* () {
    const local = new Map<RoomId, Map<string, PresenceEntry>>()

    // The local record changes in the same synchronous step as the command is queued on the
    // connection, so a renewal never carries a connection whose leave was sent before it.
    const tracked: PresenceStore = {
      ...store,
      join: (roomId, entry) =>
        Effect.suspend(() => {
          let conns = local.get(roomId)
          if (conns === undefined) {
            conns = new Map()
            local.set(roomId, conns)
          }
          conns.set(entry.connId, entry)
          return store.join(roomId, entry)
        }),
      leave: (roomId, connId) =>
        Effect.suspend(() => {
          const conns = local.get(roomId)
          if (conns === undefined || !conns.delete(connId)) return Effect.succeed([])
          if (conns.size === 0) local.delete(roomId)
          return store.leave(roomId, connId)
        })
    }
    const { service, report } = yield* makePresence(tracked, options)

    const renewRoom = (roomId: RoomId) =>
      Effect.suspend(() => {
        const conns = local.get(roomId)
        if (conns === undefined) return Effect.void
        return store.renew(roomId, [...conns.keys()]).pipe(
          Effect.flatMap(({ missing, changes }) => {
            report(roomId, changes)
            // Looked up just before each join: a leave sent while an earlier one ran must not be undone.
            return Effect.forEach(
              missing,
              (connId) =>
                Effect.suspend(() => {
                  const entry = local.get(roomId)?.get(connId)
                  if (entry === undefined) return Effect.void
                  return Effect.map(store.join(roomId, entry), (c) => report(roomId, c))
                }),
              { discard: true }
            )
          }),
          Effect.catchCause((cause) =>
            Effect.logWarning("presence renewal failed", cause).pipe(Effect.annotateLogs({ room_id: roomId }))
          )
        )
      })

    const heartbeat = Effect.suspend(() =>
      Effect.forEach([...local.keys()], renewRoom, { concurrency: 4, discard: true })
    )
    yield* heartbeat.pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(Duration.toMillis(options.ttl) / 3))),
      Effect.forkScoped
    )
    return { service, renew: heartbeat }
  })
