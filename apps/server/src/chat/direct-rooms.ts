/**
 * Direct rooms: the private room of exactly two users, one per pair. The rules:
 * - asking again, from either side, opens the same room (storage keeps one room per pair,
 *   even when both ask at the same moment);
 * - not with oneself (400), nor with an unknown or disabled user (404, one answer for both,
 *   as for any user lookup);
 * - each user sees the room named by the other one (`views/chat.ts`);
 * - its members are fixed: adding, removing, changing a role and leaving are refused
 *   (`rooms.ts`); it is never in the public directory;
 * - only making a new one counts against the caller's rate limit: opening one does not.
 */
import {
  InvalidRequest,
  NotFound,
  type RateLimited,
  type RoomId,
  type ServiceUnavailable,
  timeUuidFrom
} from "@parley/domain"
import { type DirectUser, directPair, Rooms as RoomStore, Users } from "@parley/storage"
import { Clock, Context, Effect, Layer, Option } from "effect"
import { unavailable } from "../storage-errors.ts"

const noSuchUser = () => new NotFound({ error: { code: "not_found", message: "no such user" } })

export class DirectRooms extends Context.Service<
  DirectRooms,
  {
    /**
     * The caller's direct room with `username`, made the first time (the caller's view of it
     * is `ChatRooms.view`). `beforeCreate` runs only when a new room is about to be made
     * (the rate limit).
     */
    readonly open: (
      caller: DirectUser,
      username: string,
      beforeCreate: Effect.Effect<void, RateLimited | ServiceUnavailable>
    ) => Effect.Effect<RoomId, InvalidRequest | NotFound | RateLimited | ServiceUnavailable>
  }
>()("parley/server/chat/DirectRooms") {
  static readonly layer = Layer.effect(
    DirectRooms,
    Effect.gen(function* () {
      const store = yield* RoomStore
      const users = yield* Users

      return DirectRooms.of({
        open: Effect.fn("DirectRooms.open")(function* (caller, username, beforeCreate) {
          const found = yield* users.findByUsername(username)
          if (Option.isNone(found) || found.value.disabled) return yield* noSuchUser()
          const peer: DirectUser = { id: found.value.id, username: found.value.username }
          if (peer.id === caller.id) {
            return yield* new InvalidRequest({
              error: { code: "invalid_request", message: "a direct room is with another user, not yourself" }
            })
          }
          const existing = yield* store.findDirect(caller.id, peer.id)
          if (Option.isSome(existing)) return existing.value.id
          yield* beforeCreate
          const now = yield* Clock.currentTimeMillis
          const pair = directPair(caller, peer)
          const room = yield* store.createDirect({
            id: timeUuidFrom(now, Math.floor(Math.random() * 10_000)) as RoomId,
            name: pair.map((user) => user.username).join(", "),
            visibility: "private",
            createdBy: caller.id,
            createdAt: now,
            archived: false,
            direct: pair
          })
          return room.id
        }, unavailable)
      })
    })
  )
}
