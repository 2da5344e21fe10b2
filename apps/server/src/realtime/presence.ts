/**
 * Presence as the room sees it: who is online, as changes per user, coalesced.
 *
 * - A connection joining or leaving changes the store (`presence-store.ts`); only a user's
 *   first connection in and last one out are changes.
 * - Changes are collected per room for `window` and published once per window and node:
 *   `presence.diff` (users who came online and went offline, and the count), or, in a room
 *   with more than `diffLimit` users online (or a window with more than `diffLimit` changed
 *   users), `presence.count` only. The count goes out even when it equals the one this node
 *   sent last: another node may have published a different one since. So a join costs the
 *   same whatever the room's size: a store update now, and a share of one publish per window.
 * - Whether a changed user is online is read from the store when the window is flushed, not
 *   inferred from the changes this node saw: with several nodes, the last word on a user is
 *   the store's.
 * - The online list itself is read in pages (`page`): the first on subscribe, the rest on
 *   request, each with the count. A cursor is the opaque form of the last user's key.
 */
import type { RoomId } from "@parley/domain"
import { Context, type Duration, Effect, Layer, Schema, type Scope } from "effect"
import type { Redis } from "effect/persistence"
import { Broker } from "./broker.ts"
import { makeCoalescer } from "./coalescer.ts"
import {
  isUserKey,
  memoryStore,
  type OnlineUser,
  type PresenceChange,
  type PresenceEntry,
  type PresencePage,
  type PresenceStore,
  userKey
} from "./presence-store.ts"

export interface PresenceOptions {
  /** Changes in a room go out at most once per window (per node). */
  readonly window: Duration.Duration
  /** Users per page: the list sent on subscribe, and each `presence.list` answer. */
  readonly pageSize: number
  /** Rooms with more users online than this get counts only, no per-user changes. */
  readonly diffLimit: number
}

/** A `presence.list` cursor that this server did not hand out. */
export class InvalidCursor extends Schema.TaggedError<InvalidCursor>()("InvalidCursor", {
  message: Schema.String
}) {}

export interface OnlinePage {
  readonly online: ReadonlyArray<OnlineUser>
  readonly count: number
  /** Absent on the last page. */
  readonly next_cursor?: string
}

export const encodeCursor = (key: string) => Buffer.from(key).toString("base64url")

export const decodeCursor = (cursor: string) =>
  Effect.suspend(() => {
    const key = Buffer.from(cursor, "base64url").toString()
    return isUserKey(key)
      ? Effect.succeed(key)
      : Effect.fail(new InvalidCursor({ message: "cursor: not one this server handed out (use next_cursor as is)" }))
  })

export class Presence extends Context.Service<
  Presence,
  {
    /** Best effort: a store failure is logged, never fails the caller. */
    readonly join: (roomId: RoomId, entry: PresenceEntry) => Effect.Effect<void>
    readonly leave: (roomId: RoomId, connId: string) => Effect.Effect<void>
    /** The page after `cursor` (the first when undefined), `pageSize` users at most. */
    readonly page: (roomId: RoomId, cursor?: string) => Effect.Effect<OnlinePage, Redis.RedisError | InvalidCursor>
  }
>()("parley/server/realtime/Presence") {
  /** One node: the store is this process's memory. */
  static readonly layerMemory = (options: PresenceOptions) =>
    Layer.effect(
      Presence,
      Effect.map(makePresence(memoryStore(), options), ({ service }) => service)
    )
}

/**
 * The service over any store, and `report`, through which a store's own discoveries (users
 * whose node died, found by a sweep) reach the same windows as joins and leaves.
 */
export const makePresence = (store: PresenceStore, options: PresenceOptions) =>
  Effect.gen(function* () {
    const broker = yield* Broker

    const flush = (roomId: RoomId, changes: ReadonlyArray<PresenceChange>) =>
      Effect.gen(function* () {
        // Every user who changed, even one who came and went within the window: a subscriber
        // may have read the list (from the store) in between and hold them, so they go out with
        // the store's last word, here `left`.
        const changed = new Map<string, OnlineUser>()
        for (const { user } of changes) changed.set(userKey(user.user_id, user.username), user)
        const keys = [...changed.keys()]
        if (keys.length === 0) return
        const state = yield* store.state(roomId, keys)
        // Names beyond diffLimit in one frame (a mass leave, say) cost every subscriber more than a re-read.
        if (state.count > options.diffLimit || keys.length > options.diffLimit) {
          return yield* broker.publish(roomId, { kind: "presence.count", count: state.count })
        }
        const users = [...changed.values()]
        yield* broker.publish(roomId, {
          kind: "presence.diff",
          joined: users.filter((_, i) => state.online[i] === true),
          left: users.filter((_, i) => state.online[i] !== true),
          count: state.count
        })
      }).pipe(
        Effect.catchCause((cause) =>
          Effect.logWarning("presence update not published", cause).pipe(Effect.annotateLogs({ room_id: roomId }))
        )
      )

    const coalescer = yield* makeCoalescer({ window: options.window, flush })
    const report = (roomId: RoomId, changes: ReadonlyArray<PresenceChange>) => {
      for (const change of changes) coalescer.add(roomId, change)
    }
    const logged =
      <E>(what: string, roomId: RoomId) =>
      (effect: Effect.Effect<ReadonlyArray<PresenceChange>, E>) =>
        effect.pipe(
          Effect.map((changes) => report(roomId, changes)),
          Effect.catchCause((cause) => Effect.logWarning(what, cause).pipe(Effect.annotateLogs({ room_id: roomId })))
        )

    const answers = new WeakMap<PresencePage, OnlinePage>()
    const service = Presence.of({
      join: (roomId, entry) => logged("presence join failed", roomId)(store.join(roomId, entry)),
      leave: (roomId, connId) => logged("presence leave failed", roomId)(store.leave(roomId, connId)),
      page: (roomId, cursor) =>
        Effect.gen(function* () {
          const after = cursor === undefined ? null : yield* decodeCursor(cursor)
          const page = yield* store.page(roomId, after, options.pageSize)
          // A store that hands out the same page again (the memory store's first page) gets the same answer.
          let online = answers.get(page)
          if (online === undefined) {
            online = {
              online: page.users,
              count: page.count,
              ...(page.next === null ? {} : { next_cursor: encodeCursor(page.next) })
            }
            answers.set(page, online)
          }
          return online
        })
    })
    return { service, report }
  }) satisfies Effect.Effect<unknown, never, Broker | Scope.Scope>
