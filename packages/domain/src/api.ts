/**
 * The HTTP API, declared once. The server implements it, clients and tests derive
 * typed clients from it, and `/openapi.json` is generated from it.
 */
import { Context, Schema } from "effect"
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "effect/http-api"
import {
  AdminRoomList,
  AdminRoomQuery,
  AdminRoomView,
  AdminSessionList,
  AdminUserList,
  AdminUserQuery,
  AdminUserView,
  AuditPage,
  AuditQuery,
  RevokedSessions,
  SetRoleRequest,
  Stats
} from "./admin.ts"
import { LoginRequest, RefreshRequest, SessionList, SignupRequest, TokenResponse } from "./auth.ts"
import {
  AddMemberRequest,
  CreateRoomRequest,
  DeleteMessageQuery,
  DirectRoomRequest,
  EditMessageRequest,
  MarkReadRequest,
  MemberList,
  MemberView,
  MessagePage,
  MessageQuery,
  MessageView,
  PageQuery,
  PostMessageRequest,
  ReadMarker,
  RoomList,
  RoomListQuery,
  RoomView
} from "./chat.ts"
import {
  DependencyStatus,
  EmailRegistered,
  Forbidden,
  InternalError,
  InvalidCredentials,
  InvalidRefreshToken,
  InvalidRequest,
  NotFound,
  NotMember,
  NotReady,
  RateLimitedResponse,
  SendUnavailableResponse,
  ServiceUnavailableResponse,
  Unauthorized,
  UsernameTaken,
  WeakPassword
} from "./errors.ts"
import { MessageId, RoomId, SessionId, UserId } from "./ids.ts"
import { SearchPage, SearchQuery } from "./search.ts"
import { type Role, UserView } from "./user.ts"

/** Who is calling: set by the `Authorization` middleware for bearer-protected endpoints. */
export class CurrentUser extends Context.Service<
  CurrentUser,
  {
    readonly userId: UserId
    readonly sessionId: SessionId
    /** `user.username`, readable without building the view. */
    readonly username: string
    /** `user.role`, readable without building the view. */
    readonly role: Role
    readonly user: UserView
  }
>()("parley/domain/CurrentUser") {}

export class Authorization extends HttpApiMiddleware.Service<Authorization, { provides: CurrentUser }>()(
  "parley/domain/Authorization",
  {
    security: { bearer: HttpApiSecurity.bearer },
    error: [Unauthorized, ServiceUnavailableResponse]
  }
) {}

/** Admin endpoints: runs after `Authorization`; a caller whose stored role is not `admin` gets 403. */
export class RequireAdmin extends HttpApiMiddleware.Service<RequireAdmin, { requires: CurrentUser }>()(
  "parley/domain/RequireAdmin",
  { error: Forbidden }
) {}

/** Renders any request that fails schema decoding as a 400 `invalid_request` naming the problem. */
export class RequestValidation extends HttpApiMiddleware.Service<RequestValidation>()(
  "parley/domain/RequestValidation",
  {
    error: [InvalidRequest, InternalError]
  }
) {}

export class Health extends Schema.Class<Health>("Health")({ status: Schema.Literal("ok") }) {}
export class Ready extends Schema.Class<Ready>("Ready")({
  status: Schema.Literal("ready"),
  checks: DependencyStatus
}) {}

export class SystemGroup extends HttpApiGroup.make("system", { topLevel: true }).add(
  HttpApiEndpoint.get("healthz", "/healthz", { success: Health }),
  HttpApiEndpoint.get("readyz", "/readyz", { success: Ready, error: NotReady })
) {}

export class AuthGroup extends HttpApiGroup.make("auth").add(
  HttpApiEndpoint.post("signup", "/signup", {
    payload: SignupRequest,
    success: UserView.pipe(HttpApiSchema.status(201)),
    error: [WeakPassword, UsernameTaken, EmailRegistered, RateLimitedResponse, ServiceUnavailableResponse]
  }),
  HttpApiEndpoint.post("login", "/login", {
    payload: LoginRequest,
    success: TokenResponse,
    error: [InvalidCredentials, Forbidden, RateLimitedResponse, ServiceUnavailableResponse]
  }),
  // Authenticated by the refresh token alone, so it works after the access token expired.
  HttpApiEndpoint.post("refresh", "/api/refresh", {
    payload: RefreshRequest,
    success: TokenResponse,
    error: [InvalidRefreshToken, RateLimitedResponse, ServiceUnavailableResponse]
  })
) {}

export class AccountGroup extends HttpApiGroup.make("account")
  .add(
    HttpApiEndpoint.get("profile", "/api/profile", { success: UserView }),
    HttpApiEndpoint.get("me", "/api/me", { success: UserView }),
    HttpApiEndpoint.post("logout", "/api/logout", {
      payload: RefreshRequest,
      success: HttpApiSchema.NoContent,
      error: InvalidRefreshToken
    }),
    HttpApiEndpoint.get("listSessions", "/api/sessions", { success: SessionList }),
    HttpApiEndpoint.delete("revokeSession", "/api/sessions/:id", {
      params: { id: SessionId },
      success: HttpApiSchema.NoContent,
      error: [NotFound, Forbidden]
    })
  )
  .middleware(Authorization) {}

const inRoom = { room_id: RoomId }
const roomErrors = [Forbidden, NotFound, ServiceUnavailableResponse]

/**
 * Rooms, membership and messages. A private room answers 404 to non-members, so its
 * existence is not revealed; acting above one's role in a room the caller can see is 403.
 */
export class ChatGroup extends HttpApiGroup.make("chat")
  .add(
    HttpApiEndpoint.post("createRoom", "/api/chat/rooms", {
      payload: CreateRoomRequest,
      success: RoomView.pipe(HttpApiSchema.status(201)),
      error: [RateLimitedResponse, ServiceUnavailableResponse]
    }),
    // Idempotent: the same room every time, whichever of the two asks (200, never 201).
    HttpApiEndpoint.post("openDirectRoom", "/api/chat/direct", {
      payload: DirectRoomRequest,
      success: RoomView,
      error: [InvalidRequest, NotFound, RateLimitedResponse, ServiceUnavailableResponse]
    }),
    HttpApiEndpoint.get("listRooms", "/api/chat/rooms", {
      query: RoomListQuery,
      success: RoomList,
      error: ServiceUnavailableResponse
    }),
    HttpApiEndpoint.get("getRoom", "/api/chat/rooms/:room_id", {
      params: inRoom,
      success: RoomView,
      error: roomErrors
    }),
    HttpApiEndpoint.post("joinRoom", "/api/chat/rooms/:room_id/join", {
      params: inRoom,
      success: RoomView,
      error: roomErrors
    }),
    HttpApiEndpoint.post("leaveRoom", "/api/chat/rooms/:room_id/leave", {
      params: inRoom,
      success: HttpApiSchema.NoContent,
      error: roomErrors
    }),
    HttpApiEndpoint.get("listMembers", "/api/chat/rooms/:room_id/members", {
      params: inRoom,
      query: PageQuery,
      success: MemberList,
      error: roomErrors
    }),
    HttpApiEndpoint.put("putMember", "/api/chat/rooms/:room_id/members/:user_id", {
      params: { ...inRoom, user_id: UserId },
      payload: AddMemberRequest,
      success: MemberView,
      error: roomErrors
    }),
    HttpApiEndpoint.delete("removeMember", "/api/chat/rooms/:room_id/members/:user_id", {
      params: { ...inRoom, user_id: UserId },
      success: HttpApiSchema.NoContent,
      error: roomErrors
    }),
    HttpApiEndpoint.post("postMessage", "/api/chat/rooms/:room_id/messages", {
      params: inRoom,
      payload: PostMessageRequest,
      success: MessageView.pipe(HttpApiSchema.status(201)),
      error: [Forbidden, NotFound, SendUnavailableResponse, RateLimitedResponse]
    }),
    // Edits and deletes are events of the room's stream: each answers the stored event
    // (`kind` edit/delete, its own `seq`), which subscribers receive like a message.
    HttpApiEndpoint.patch("editMessage", "/api/chat/rooms/:room_id/messages/:msg_id", {
      params: { ...inRoom, msg_id: MessageId },
      payload: EditMessageRequest,
      success: MessageView,
      error: [Forbidden, NotFound, SendUnavailableResponse, RateLimitedResponse]
    }),
    HttpApiEndpoint.delete("deleteMessage", "/api/chat/rooms/:room_id/messages/:msg_id", {
      params: { ...inRoom, msg_id: MessageId },
      query: DeleteMessageQuery,
      success: MessageView,
      error: [Forbidden, NotFound, SendUnavailableResponse, RateLimitedResponse]
    }),
    // Moves the caller's read marker forward (never back) and answers where it is now.
    HttpApiEndpoint.put("markRead", "/api/chat/rooms/:room_id/read", {
      params: inRoom,
      payload: MarkReadRequest,
      success: ReadMarker,
      error: [...roomErrors, NotMember, RateLimitedResponse]
    }),
    HttpApiEndpoint.get("listMessages", "/api/chat/rooms/:room_id/messages", {
      params: inRoom,
      query: MessageQuery,
      success: MessagePage,
      error: [...roomErrors, InvalidRequest]
    }),
    // Word search over the caller's joined rooms, or one room they may read (404 otherwise).
    HttpApiEndpoint.get("search", "/api/chat/search", {
      query: SearchQuery,
      success: SearchPage,
      error: [NotFound, InvalidRequest, RateLimitedResponse, ServiceUnavailableResponse]
    })
  )
  .middleware(Authorization) {}

const userParam = { user_id: UserId }
const adminErrors = [Forbidden, ServiceUnavailableResponse]
const adminTargetErrors = [Forbidden, NotFound, ServiceUnavailableResponse]

/**
 * Operators' endpoints. Every one needs a caller whose stored role is `admin` (403
 * otherwise, checked by `RequireAdmin`), and every change is written to the audit log.
 */
export class AdminGroup extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.get("listUsers", "/api/admin/users", {
      query: AdminUserQuery,
      success: AdminUserList,
      error: adminErrors
    }),
    HttpApiEndpoint.get("getUser", "/api/admin/users/:user_id", {
      params: userParam,
      success: AdminUserView,
      error: adminTargetErrors
    }),
    // Disabling also ends every session of the user and closes their sockets on every node.
    HttpApiEndpoint.post("disableUser", "/api/admin/users/:user_id/disable", {
      params: userParam,
      success: AdminUserView,
      error: adminTargetErrors
    }),
    HttpApiEndpoint.post("enableUser", "/api/admin/users/:user_id/enable", {
      params: userParam,
      success: AdminUserView,
      error: adminTargetErrors
    }),
    HttpApiEndpoint.put("setRole", "/api/admin/users/:user_id/role", {
      params: userParam,
      payload: SetRoleRequest,
      success: AdminUserView,
      error: adminTargetErrors
    }),
    HttpApiEndpoint.get("listUserSessions", "/api/admin/users/:user_id/sessions", {
      params: userParam,
      success: AdminSessionList,
      error: adminTargetErrors
    }),
    HttpApiEndpoint.delete("revokeUserSession", "/api/admin/users/:user_id/sessions/:session_id", {
      params: { ...userParam, session_id: SessionId },
      success: HttpApiSchema.NoContent,
      error: adminTargetErrors
    }),
    HttpApiEndpoint.delete("revokeUserSessions", "/api/admin/users/:user_id/sessions", {
      params: userParam,
      success: RevokedSessions,
      error: adminTargetErrors
    }),
    HttpApiEndpoint.get("listAllRooms", "/api/admin/rooms", {
      query: AdminRoomQuery,
      success: AdminRoomList,
      error: adminErrors
    }),
    HttpApiEndpoint.get("getAnyRoom", "/api/admin/rooms/:room_id", {
      params: inRoom,
      success: AdminRoomView,
      error: adminTargetErrors
    }),
    HttpApiEndpoint.get("listAnyRoomMembers", "/api/admin/rooms/:room_id/members", {
      params: inRoom,
      query: PageQuery,
      success: MemberList,
      error: adminTargetErrors
    }),
    HttpApiEndpoint.post("archiveRoom", "/api/admin/rooms/:room_id/archive", {
      params: inRoom,
      success: AdminRoomView,
      error: adminTargetErrors
    }),
    HttpApiEndpoint.delete("deleteRoom", "/api/admin/rooms/:room_id", {
      params: inRoom,
      success: HttpApiSchema.NoContent,
      error: adminTargetErrors
    }),
    HttpApiEndpoint.get("stats", "/api/admin/stats", { success: Stats, error: adminErrors }),
    HttpApiEndpoint.get("audit", "/api/admin/audit", { query: AuditQuery, success: AuditPage, error: adminErrors })
  )
  .middleware(RequireAdmin)
  .middleware(Authorization) {}

export class Api extends HttpApi.make("parley")
  .add(SystemGroup)
  .add(AuthGroup)
  .add(AccountGroup)
  .add(ChatGroup)
  .add(AdminGroup)
  .middleware(RequestValidation)
  // A body with a property the description does not name is refused (400), as its
  // `additionalProperties: false` says; query strings and headers stay lenient.
  .annotate(HttpApi.PayloadParseOptions, { onExcessProperty: "error" })
  .annotateMerge(
    OpenApi.annotations({
      title: "Parley",
      description: 'Accounts, sessions, rooms and messages. Errors are {"error": {"code", "message"}}.'
    })
  ) {}
