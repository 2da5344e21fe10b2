import { Api, CurrentUser } from "@parley/domain"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Admin } from "../../admin/admin.ts"

/** Operators' endpoints: `RequireAdmin` has already refused non-admins; the rules are in `Admin`. */
export const AdminHandlers = HttpApiBuilder.group(
  Api,
  "admin",
  Effect.fn(function* (handlers) {
    const admin = yield* Admin
    return handlers
      .handle("listUsers", ({ query }) => admin.listUsers(query))
      .handle("getUser", ({ params }) => admin.getUser(params.user_id))
      .handle("disableUser", ({ params }) => Effect.flatMap(CurrentUser, (me) => admin.disableUser(me, params.user_id)))
      .handle("enableUser", ({ params }) => Effect.flatMap(CurrentUser, (me) => admin.enableUser(me, params.user_id)))
      .handle("setRole", ({ params, payload }) =>
        Effect.flatMap(CurrentUser, (me) => admin.setRole(me, params.user_id, payload.role))
      )
      .handle("listUserSessions", ({ params }) => admin.userSessions(params.user_id))
      .handle("revokeUserSession", ({ params }) =>
        Effect.flatMap(CurrentUser, (me) => admin.revokeSession(me, params.user_id, params.session_id))
      )
      .handle("revokeUserSessions", ({ params }) =>
        Effect.flatMap(CurrentUser, (me) => admin.revokeSessions(me, params.user_id))
      )
      .handle("listAllRooms", ({ query }) => admin.listRooms(query))
      .handle("getAnyRoom", ({ params }) => admin.getRoom(params.room_id))
      .handle("listAnyRoomMembers", ({ params, query }) => admin.roomMembers(params.room_id, query))
      .handle("archiveRoom", ({ params }) => Effect.flatMap(CurrentUser, (me) => admin.archiveRoom(me, params.room_id)))
      .handle("deleteRoom", ({ params }) => Effect.flatMap(CurrentUser, (me) => admin.deleteRoom(me, params.room_id)))
      .handle("stats", () => admin.stats)
      .handle("audit", ({ query }) => admin.audit(query))
  })
)
