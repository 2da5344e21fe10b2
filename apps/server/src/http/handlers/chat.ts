import { Api, CurrentUser, type MessageId, type RoomId } from "@parley/domain"
import { Clock, Duration, Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { DirectRooms } from "../../chat/direct-rooms.ts"
import { RoomRouter } from "../../chat/room-router.ts"
import { ChatRooms } from "../../chat/rooms.ts"
import { ChatSearch } from "../../chat/search.ts"
import { before, SendDeadlineConfig } from "../../chat/send-deadline.ts"
import { RateLimits } from "../../ratelimit/limits.ts"

/** Rooms, membership and messages; the rules are in `ChatRooms`, the ordering in the room actor behind `RoomRouter`. */
export const ChatHandlers = HttpApiBuilder.group(
  Api,
  "chat",
  Effect.fn(function* (handlers) {
    const rooms = yield* ChatRooms
    const search = yield* ChatSearch
    const direct = yield* DirectRooms
    const router = yield* RoomRouter
    const limits = yield* RateLimits
    const caller = Effect.map(CurrentUser, (c) => c.user)
    const deadlineMs = Duration.toMillis(yield* SendDeadlineConfig)
    /** A send is answered within the deadline from its arrival (`chat/send-deadline.ts`). */
    const inTime = <A, E, R>(send: Effect.Effect<A, E, R>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => before(now + deadlineMs)(send))

    /** An edit or a delete: an entry of the room's stream, through its actor like a send. */
    const change = (
      kind: "edit" | "delete",
      target: { readonly room_id: RoomId; readonly msg_id: MessageId },
      text: string,
      clientMsgId: string | undefined
    ) =>
      Effect.gen(function* () {
        const user = yield* caller
        yield* limits.message(user.id)
        const { moderator } = yield* rooms.changeable(
          { id: user.id, siteAdmin: user.role === "admin" },
          target.room_id,
          kind
        )
        return yield* Effect.flatten(
          router.submit({
            roomId: target.room_id,
            userId: user.id,
            username: user.username,
            text,
            clientMsgId: clientMsgId ?? null,
            change: { kind, targetId: target.msg_id, moderator }
          })
        )
      }).pipe(inTime)

    return handlers
      .handle("createRoom", ({ payload }) =>
        Effect.flatMap(caller, (user) => Effect.andThen(limits.room(user.id), rooms.create(user.id, payload)))
      )
      .handle("listRooms", ({ query }) => Effect.flatMap(caller, (user) => rooms.list(user.id, query)))
      .handle("search", ({ query }) =>
        Effect.flatMap(caller, (user) => Effect.andThen(limits.search(user.id), search.search(user.id, query)))
      )
      .handle("openDirectRoom", ({ payload }) =>
        Effect.flatMap(caller, (user) =>
          Effect.flatMap(
            direct.open({ id: user.id, username: user.username }, payload.username, limits.directRoom(user.id)),
            (roomId) => rooms.view(user.id, roomId)
          )
        )
      )
      .handle("getRoom", ({ params }) => Effect.flatMap(caller, (user) => rooms.view(user.id, params.room_id)))
      .handle("markRead", ({ params, payload }) =>
        Effect.flatMap(caller, (user) =>
          Effect.andThen(limits.readMark(user.id), rooms.markRead(user.id, params.room_id, payload.seq, null))
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
        }).pipe(inTime)
      )
      .handle("editMessage", ({ params, payload }) => change("edit", params, payload.text, payload.client_msg_id))
      .handle("deleteMessage", ({ params, query }) => change("delete", params, "", query.client_msg_id))
      .handle("listMessages", ({ params, query }) =>
        Effect.flatMap(caller, (user) => rooms.history(user.id, params.room_id, query))
      )
  })
)
