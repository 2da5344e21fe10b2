import { Api, CurrentUser } from "@parley/domain"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { RoomRouter } from "../../chat/room-router.ts"
import { ChatRooms } from "../../chat/rooms.ts"
import { RateLimits } from "../../ratelimit/limits.ts"
import { toRoomView } from "../../views/chat.ts"

/** Rooms, membership and messages; the rules are in `ChatRooms`, the ordering in the room actor behind `RoomRouter`. */
export const ChatHandlers = HttpApiBuilder.group(
  Api,
  "chat",
  Effect.fn(function* (handlers) {
    const rooms = yield* ChatRooms
    const router = yield* RoomRouter
    const limits = yield* RateLimits
    const caller = Effect.map(CurrentUser, (c) => c.user)

    return handlers
      .handle("createRoom", ({ payload }) =>
        Effect.flatMap(caller, (user) => Effect.andThen(limits.room(user.id), rooms.create(user.id, payload)))
      )
      .handle("listRooms", ({ query }) => Effect.flatMap(caller, (user) => rooms.list(user.id, query)))
      .handle("getRoom", ({ params }) =>
        Effect.flatMap(caller, (user) => rooms.access(user.id, params.room_id)).pipe(
          Effect.map(({ room, role }) => toRoomView(room, role))
        )
      )
      .handle("joinRoom", ({ params }) => Effect.flatMap(caller, (user) => rooms.join(user.id, params.room_id)))
      .handle("leaveRoom", ({ params }) => Effect.flatMap(caller, (user) => rooms.leave(user.id, params.room_id)))
      .handle("listMembers", ({ params, query }) =>
        Effect.flatMap(caller, (user) => rooms.members(user.id, params.room_id, query))
      )
      .handle("putMember", ({ params, payload }) =>
        Effect.flatMap(caller, (user) =>
          rooms.putMember(user.id, params.room_id, params.user_id, payload.role ?? "member")
        )
      )
      .handle("removeMember", ({ params }) =>
        Effect.flatMap(caller, (user) => rooms.removeMember(user.id, params.room_id, params.user_id))
      )
      .handle("postMessage", ({ params, payload }) =>
        Effect.gen(function* () {
          const user = yield* caller
          yield* limits.message(user.id)
          yield* rooms.postable(user.id, params.room_id)
          return yield* Effect.flatten(
            router.submit({
              roomId: params.room_id,
              userId: user.id,
              username: user.username,
              text: payload.content,
              clientMsgId: payload.client_msg_id ?? null
            })
          )
        })
      )
      .handle("listMessages", ({ params, query }) =>
        Effect.flatMap(caller, (user) => rooms.history(user.id, params.room_id, query))
      )
  })
)
