/**
 * Who is online in a room, per USER: a user's connections are counted, and only the first
 * connection in (a user comes online) and the last one out (the user goes offline) are
 * changes. A second tab of someone already online changes nothing.
 *
 * Users are kept in one order, by `username user_id` byte order (usernames are ASCII and hold
 * no space), so a page is "the next `limit` users after this key": a position that stays
 * meaningful while users come and go. The memory store here serves one node; the Redis store
 * (`presence-store-redis.ts`) serves many with the same contract.
 */
import type { RoomId, UserId } from "@parley/domain"
import { Effect } from "effect"
import type { Redis } from "effect/persistence"

/** One connection's presence in one room. `connId` is unique across nodes. */
export interface PresenceEntry {
  readonly connId: string
  readonly userId: UserId
  readonly username: string
}

/** A user online in a room, in wire shape. */
export interface OnlineUser {
  readonly user_id: UserId
  readonly username: string
}

/** A user came online in a room (`joined`) or went offline (`!joined`). */
export interface PresenceChange {
  readonly joined: boolean
  readonly user: OnlineUser
}

export interface PresencePage {
  readonly users: ReadonlyArray<OnlineUser>
  /** Users online in the room now. */
  readonly count: number
  /** The key of the last user returned when more may follow, else null. */
  readonly next: string | null
}

export interface PresenceStore {
  /** Adds a connection; reports the user as joined when it is their first connection here. */
  readonly join: (
    roomId: RoomId,
    entry: PresenceEntry
  ) => Effect.Effect<ReadonlyArray<PresenceChange>, Redis.RedisError>
  /** Removes a connection; reports the user as left when it was their last. Unknown ids change nothing. */
  readonly leave: (roomId: RoomId, connId: string) => Effect.Effect<ReadonlyArray<PresenceChange>, Redis.RedisError>
  /** Up to `limit` users after the key `after` (from the start when null), and the count. */
  readonly page: (roomId: RoomId, after: string | null, limit: number) => Effect.Effect<PresencePage, Redis.RedisError>
  /** The count, and for each of `keys` whether that user is online now. */
  readonly state: (roomId: RoomId, keys: ReadonlyArray<string>) => Effect.Effect<PresenceState, Redis.RedisError>
}

export interface PresenceState {
  readonly count: number
  readonly online: ReadonlyArray<boolean>
}

/** The key that orders a room's users: usernames are `[A-Za-z0-9_.-]`, so the space is a safe separator. */
export const userKey = (userId: UserId, username: string) => `${username} ${userId}`

export const userOfKey = (key: string): OnlineUser => {
  const space = key.indexOf(" ")
  return { username: key.slice(0, space), user_id: key.slice(space + 1) as UserId }
}

/** What a valid key looks like; anything else from a client is refused before it reaches a store. */
export const isUserKey = (key: string) => /^[A-Za-z0-9_.-]{1,64} [0-9A-Za-z-]{1,64}$/.test(key)

/** First index in the sorted `keys` whose key is greater than `key` (all of them when null). */
const firstAfter = (keys: ReadonlyArray<string>, key: string | null) => {
  if (key === null) return 0
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (keys[mid]! <= key) lo = mid + 1
    else hi = mid
  }
  return lo
}

interface RoomOnline {
  /** connId → the key of its user. */
  readonly conns: Map<string, string>
  /** user key → how many of the room's connections are theirs. */
  readonly refs: Map<string, number>
  /** The user keys, sorted; insertion and removal are a binary search and one move. */
  readonly sorted: Array<string>
  /**
   * The first page, kept until the room's users change: every subscribe reads it, and in a
   * join storm it is the same page each time. The same object is handed out, so what is
   * built from it (its encoded frame) can be kept by identity as well.
   */
  firstPage: { readonly limit: number; readonly page: PresencePage } | undefined
}

/**
 * One node's store: every operation is a few map updates, a binary search and one array
 * move, so a join costs the same in a room of ten and of ten thousand (the move is a memmove
 * of pointers: microseconds at that size).
 */
export const memoryStore = (): PresenceStore => {
  const rooms = new Map<RoomId, RoomOnline>()
  const join = (roomId: RoomId, entry: PresenceEntry): ReadonlyArray<PresenceChange> => {
    let room = rooms.get(roomId)
    if (room === undefined) {
      room = { conns: new Map(), refs: new Map(), sorted: [], firstPage: undefined }
      rooms.set(roomId, room)
    }
    if (room.conns.has(entry.connId)) return []
    const key = userKey(entry.userId, entry.username)
    room.conns.set(entry.connId, key)
    const refs = (room.refs.get(key) ?? 0) + 1
    room.refs.set(key, refs)
    if (refs > 1) return []
    room.sorted.splice(firstAfter(room.sorted, key), 0, key)
    room.firstPage = undefined
    return [{ joined: true, user: { user_id: entry.userId, username: entry.username } }]
  }
  const leave = (roomId: RoomId, connId: string): ReadonlyArray<PresenceChange> => {
    const room = rooms.get(roomId)
    const key = room?.conns.get(connId)
    if (room === undefined || key === undefined) return []
    room.conns.delete(connId)
    const refs = room.refs.get(key)! - 1
    if (refs > 0) {
      room.refs.set(key, refs)
      return []
    }
    room.refs.delete(key)
    room.sorted.splice(firstAfter(room.sorted, key) - 1, 1)
    room.firstPage = undefined
    if (room.conns.size === 0) rooms.delete(roomId)
    return [{ joined: false, user: userOfKey(key) }]
  }
  const read = (sorted: ReadonlyArray<string>, after: string | null, limit: number): PresencePage => {
    const start = firstAfter(sorted, after)
    const keys = sorted.slice(start, start + limit)
    return {
      users: keys.map(userOfKey),
      count: sorted.length,
      next: start + limit < sorted.length ? keys[keys.length - 1]! : null
    }
  }
  const page = (roomId: RoomId, after: string | null, limit: number): PresencePage => {
    const room = rooms.get(roomId)
    if (room === undefined) return read([], after, limit)
    if (after !== null) return read(room.sorted, after, limit)
    if (room.firstPage?.limit !== limit) room.firstPage = { limit, page: read(room.sorted, null, limit) }
    return room.firstPage.page
  }
  return {
    join: (roomId, entry) => Effect.sync(() => join(roomId, entry)),
    leave: (roomId, connId) => Effect.sync(() => leave(roomId, connId)),
    page: (roomId, after, limit) => Effect.sync(() => page(roomId, after, limit)),
    state: (roomId, keys) =>
      Effect.sync(() => {
        const room = rooms.get(roomId)
        return { count: room?.sorted.length ?? 0, online: keys.map((key) => room?.refs.has(key) === true) }
      })
  }
}
