import type { RoomId, UserId } from "@parley/domain"
import { Context, Effect, Layer } from "effect"
import type { Redis } from "effect/persistence"

/** One connection's presence in one room. `connId` is unique across nodes. */
export interface PresenceEntry {
  readonly connId: string
  readonly userId: UserId
  readonly username: string
}

export interface OnlineUser {
  readonly user_id: UserId
  readonly username: string
}

/** The distinct users behind a room's connections, in a stable order. */
export const distinctUsers = (entries: Iterable<PresenceEntry>): ReadonlyArray<OnlineUser> => {
  const users = new Map<UserId, OnlineUser>()
  for (const e of entries) users.set(e.userId, { user_id: e.userId, username: e.username })
  return [...users.values()].sort((a, b) => a.username.localeCompare(b.username))
}

/**
 * Who is online in a room. Entries are kept alive by this node's heartbeats; when a node
 * dies without saying goodbye its entries expire after the TTL.
 */
export class Presence extends Context.Service<
  Presence,
  {
    readonly join: (roomId: RoomId, entry: PresenceEntry) => Effect.Effect<void, Redis.RedisError>
    readonly leave: (roomId: RoomId, connId: string) => Effect.Effect<void, Redis.RedisError>
    readonly online: (roomId: RoomId) => Effect.Effect<ReadonlyArray<OnlineUser>, Redis.RedisError>
  }
>()("parley/server/realtime/Presence") {
  /** One node: the connections of this process are all there is. */
  static readonly layerMemory = Layer.sync(Presence, () => {
    const rooms = new Map<RoomId, Map<string, PresenceEntry>>()
    return Presence.of({
      join: (roomId, entry) =>
        Effect.sync(() => {
          const room = rooms.get(roomId) ?? new Map()
          room.set(entry.connId, entry)
          rooms.set(roomId, room)
        }),
      leave: (roomId, connId) =>
        Effect.sync(() => {
          const room = rooms.get(roomId)
          room?.delete(connId)
          if (room?.size === 0) rooms.delete(roomId)
        }),
      online: (roomId) => Effect.sync(() => distinctUsers(rooms.get(roomId)?.values() ?? []))
    })
  })
}
