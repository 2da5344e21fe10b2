/**
 * What the admin API (`/api/admin/...`) sends and receives. Only users whose stored role is
 * `admin` reach these endpoints; everyone else gets 403.
 */
import { Schema } from "effect"
import { SessionView } from "./auth.ts"
import { Limit, RoomCursor, RoomKind, Visibility } from "./chat.ts"
import { MessageId, RoomId, UserId } from "./ids.ts"
import { trimmedText } from "./text.ts"
import { Role } from "./user.ts"

/** A user as an operator sees them: the public view plus whether the account is disabled. */
export class AdminUserView extends Schema.Class<AdminUserView>("AdminUserView")({
  id: UserId,
  username: Schema.String,
  email: Schema.String,
  role: Role,
  disabled: Schema.Boolean,
  created_at: Schema.String,
  updated_at: Schema.String
}) {}

export class AdminUserList extends Schema.Class<AdminUserList>("AdminUserList")({
  users: Schema.Array(AdminUserView),
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: Schema.NullOr(Schema.String)
}) {}

/** Users in username order. `q`: a username prefix, or a whole email address when it holds `@`. */
export const AdminUserQuery = Schema.Struct({
  limit: Schema.optionalKey(Limit),
  cursor: Schema.optionalKey(Schema.String.check(Schema.isMaxCodePoints(254))),
  q: Schema.optionalKey(trimmedText("q", 254))
})

export class SetRoleRequest extends Schema.Class<SetRoleRequest>("SetRoleRequest")({ role: Role }) {}

/** A user's sessions as an operator sees them (`current` is always false). */
export class AdminSessionList extends Schema.Class<AdminSessionList>("AdminSessionList")({
  sessions: Schema.Array(SessionView)
}) {}

export class RevokedSessions extends Schema.Class<RevokedSessions>("RevokedSessions")({
  /** How many live sessions were ended. */
  revoked: Schema.Int
}) {}

/** Any room, private ones too, as an operator sees it. */
export class AdminRoomView extends Schema.Class<AdminRoomView>("AdminRoomView")({
  room_id: RoomId,
  name: Schema.String,
  visibility: Visibility,
  created_by: UserId,
  created_at: Schema.String,
  archived: Schema.Boolean,
  /** `direct`: two users' direct room, named after both of them. */
  kind: RoomKind
}) {}

export class AdminRoomList extends Schema.Class<AdminRoomList>("AdminRoomList")({
  rooms: Schema.Array(AdminRoomView),
  next_cursor: Schema.NullOr(Schema.String)
}) {}

export const AdminRoomQuery = Schema.Struct({
  limit: Schema.optionalKey(Limit),
  cursor: Schema.optionalKey(RoomCursor)
})

export class Stats extends Schema.Class<Stats>("Stats")({
  users: Schema.Int,
  rooms: Schema.Int,
  /** Messages stored since 00:00 UTC today. */
  messages_today: Schema.Int,
  /** Open WebSocket connections, on every node. */
  sockets_connected: Schema.Int
}) {}

/** What an admin action was. */
export const AuditAction = Schema.Literals([
  "user.bootstrap_admin",
  "user.disable",
  "user.enable",
  "user.set_role",
  "session.revoke",
  "session.revoke_all",
  "room.archive",
  "room.delete"
])
export type AuditAction = typeof AuditAction.Type

/** One admin action: who did what to whom, when, under which request id. */
export class AuditEntry extends Schema.Class<AuditEntry>("AuditEntry")({
  /** A TIMEUUID: entries sort by it. */
  id: MessageId,
  at: Schema.String,
  /** The admin; null for an operator action on the server's machine (the first-admin bootstrap). */
  actor_id: Schema.NullOr(UserId),
  actor: Schema.String,
  action: AuditAction,
  target_type: Schema.Literals(["user", "session", "room"]),
  target_id: Schema.String,
  /** Extra facts, e.g. `role=admin`. */
  detail: Schema.NullOr(Schema.String),
  request_id: Schema.NullOr(Schema.String)
}) {}

export class AuditPage extends Schema.Class<AuditPage>("AuditPage")({
  entries: Schema.Array(AuditEntry),
  /** Pass as `before` for older entries; null when there are none. */
  next_cursor: Schema.NullOr(MessageId)
}) {}

/** Newest first. */
export const AuditQuery = Schema.Struct({
  limit: Schema.optionalKey(Limit),
  before: Schema.optionalKey(MessageId)
})
