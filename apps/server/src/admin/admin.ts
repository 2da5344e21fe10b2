/**
 * What operators may do, and the record of it. Rules: only `RequireAdmin` callers get here;
 * every change is written to the audit log before it is made, so no change goes unrecorded
 * (a change that then fails leaves an entry for the attempt, and its caller a 503 to retry);
 * an admin cannot disable themself or change their own role (another admin must), so the
 * last admin cannot lock everyone out by mistake. Ending sessions and archiving or deleting
 * rooms take effect at once on every node: see `Accounts` and the `room` broker event.
 */
import {
  AdminRoomList,
  type AdminRoomQuery,
  AdminRoomView,
  AdminSessionList,
  AdminUserList,
  type AdminUserQuery,
  AdminUserView,
  type AuditAction,
  AuditEntry,
  AuditPage,
  type AuditQuery,
  Forbidden,
  isTimeUuid,
  MemberList,
  type MessageId,
  makeTimeUuidClock,
  NotFound,
  RevokedSessions,
  type Role,
  type RoomId,
  ServiceUnavailable,
  type SessionId,
  Stats,
  type UserId
} from "@parley/domain"
import {
  AuditLog,
  type AuditRecord,
  type RoomRecord,
  Rooms,
  StorageStats,
  type UserRecord,
  Users
} from "@parley/storage"
import { Clock, Context, Effect, Layer, Option } from "effect"
import { Accounts, type Caller } from "../auth/accounts.ts"
import { CurrentRequestId } from "../http/request-context.ts"
import { Broker, type RoomChange } from "../realtime/broker.ts"
import { Revocations } from "../realtime/revocations.ts"
import { unavailable } from "../storage-errors.ts"
import { iso, toMemberView } from "../views/chat.ts"
import { SocketCounts } from "../ws/socket-counts.ts"

const defaultPage = 50
const dayMs = 86_400_000

const toAdminUserView = (u: UserRecord) =>
  new AdminUserView({
    id: u.id,
    username: u.username,
    email: u.email,
    role: u.role,
    disabled: u.disabled,
    created_at: iso(u.createdAt),
    updated_at: iso(u.updatedAt)
  })

const toAdminRoomView = (r: RoomRecord) =>
  new AdminRoomView({
    room_id: r.id,
    name: r.name,
    visibility: r.visibility,
    created_by: r.createdBy,
    created_at: iso(r.createdAt),
    archived: r.archived,
    kind: r.direct === undefined ? "room" : "direct"
  })

const toAuditEntry = (r: AuditRecord) =>
  new AuditEntry({
    id: r.id,
    at: iso(r.at),
    actor_id: r.actorId,
    actor: r.actor,
    action: r.action,
    target_type: r.targetType,
    target_id: r.targetId,
    detail: r.detail,
    request_id: r.requestId
  })

const noUser = () => new NotFound({ error: { code: "not_found", message: "no such user" } })
const noRoom = () => new NotFound({ error: { code: "not_found", message: "no such room" } })
const forbidden = (message: string) => new Forbidden({ error: { code: "forbidden", message } })

type Failure = ServiceUnavailable
type TargetFailure = NotFound | ServiceUnavailable
type ChangeFailure = Forbidden | NotFound | ServiceUnavailable

export class Admin extends Context.Service<
  Admin,
  {
    readonly listUsers: (query: typeof AdminUserQuery.Type) => Effect.Effect<AdminUserList, Failure>
    readonly getUser: (id: UserId) => Effect.Effect<AdminUserView, TargetFailure>
    /** Disables the account and ends every session of it (sockets close on every node). */
    readonly disableUser: (actor: Caller, id: UserId) => Effect.Effect<AdminUserView, ChangeFailure>
    readonly enableUser: (actor: Caller, id: UserId) => Effect.Effect<AdminUserView, ChangeFailure>
    readonly setRole: (actor: Caller, id: UserId, role: Role) => Effect.Effect<AdminUserView, ChangeFailure>
    readonly userSessions: (id: UserId) => Effect.Effect<AdminSessionList, TargetFailure>
    readonly revokeSession: (actor: Caller, id: UserId, sessionId: SessionId) => Effect.Effect<void, TargetFailure>
    readonly revokeSessions: (actor: Caller, id: UserId) => Effect.Effect<RevokedSessions, TargetFailure>
    readonly listRooms: (query: typeof AdminRoomQuery.Type) => Effect.Effect<AdminRoomList, Failure>
    readonly getRoom: (id: RoomId) => Effect.Effect<AdminRoomView, TargetFailure>
    readonly roomMembers: (
      id: RoomId,
      page: { readonly limit?: number; readonly cursor?: UserId }
    ) => Effect.Effect<MemberList, TargetFailure>
    /** Read-only from now on: history stays, sends are refused (403), on every node at once. */
    readonly archiveRoom: (actor: Caller, id: RoomId) => Effect.Effect<AdminRoomView, TargetFailure>
    /** The room, its memberships and its history; open subscriptions end with an error naming it. */
    readonly deleteRoom: (actor: Caller, id: RoomId) => Effect.Effect<void, TargetFailure>
    readonly stats: Effect.Effect<Stats, Failure>
    readonly audit: (query: typeof AuditQuery.Type) => Effect.Effect<AuditPage, Failure>
  }
>()("parley/server/admin/Admin") {
  static readonly layer = Layer.effect(
    Admin,
    Effect.gen(function* () {
      const users = yield* Users
      const rooms = yield* Rooms
      const auditLog = yield* AuditLog
      const storageStats = yield* StorageStats
      const accounts = yield* Accounts
      const broker = yield* Broker
      const revocations = yield* Revocations
      const sockets = yield* SocketCounts
      const auditIds = makeTimeUuidClock()

      /** Writes one audit entry: who (the caller), what, to whom, when, under which request. */
      const record = Effect.fnUntraced(function* (
        actor: Caller,
        action: AuditAction,
        target: { readonly type: AuditRecord["targetType"]; readonly id: string },
        detail: string | null = null
      ) {
        const at = yield* Clock.currentTimeMillis
        yield* auditLog.append({
          id: auditIds.next(at) as MessageId,
          at,
          actorId: actor.userId,
          actor: actor.user.username,
          action,
          targetType: target.type,
          targetId: target.id,
          detail,
          requestId: yield* CurrentRequestId
        })
      })

      const findUser = Effect.fnUntraced(function* (id: UserId) {
        const found = yield* users.findById(id)
        if (Option.isNone(found)) return yield* noUser()
        return found.value
      })

      const findRoom = Effect.fnUntraced(function* (id: RoomId) {
        // Every room id is a TIMEUUID; Cassandra would reject any other UUID with an error.
        if (!isTimeUuid(id)) return yield* noRoom()
        const found = yield* rooms.get(id)
        if (Option.isNone(found)) return yield* noRoom()
        return found.value
      })

      /** Applies a change to a user and answers with the user as stored afterwards. */
      const changeUser = Effect.fnUntraced(function* (
        id: UserId,
        changes: { readonly disabled?: boolean; readonly role?: Role }
      ) {
        const now = yield* Clock.currentTimeMillis
        if (!(yield* users.update(id, changes, now))) return yield* noUser()
        return toAdminUserView(yield* findUser(id))
      })

      /**
       * Tells every socket on every node that posting here changed (this node's have heard it
       * when this returns), and the room's subscribers what happened. Storage already has it.
       */
      const announce = (id: RoomId, change: RoomChange) =>
        Effect.andThen(
          revocations.publish({ kind: "room", room_id: id }),
          broker
            .publish(id, { kind: "room", change })
            .pipe(Effect.catchCause((cause) => Effect.logWarning("room change broadcast failed", cause)))
        )

      return Admin.of({
        listUsers: Effect.fn("Admin.listUsers")(function* (query) {
          const q = query.q
          // A whole email address finds at most one user, through the email index.
          if (q?.includes("@")) {
            const found = yield* users.findByEmail(q)
            return new AdminUserList({ users: Option.toArray(found).map(toAdminUserView), next_cursor: null })
          }
          const page = yield* users.list({
            prefix: q === undefined ? null : q.toLowerCase(),
            after: query.cursor ?? null,
            limit: query.limit ?? defaultPage
          })
          return new AdminUserList({ users: page.items.map(toAdminUserView), next_cursor: page.next })
        }, unavailable),

        getUser: Effect.fn("Admin.getUser")(function* (id) {
          return toAdminUserView(yield* findUser(id))
        }, unavailable),

        disableUser: Effect.fn("Admin.disableUser")(function* (actor, id) {
          if (id === actor.userId) return yield* forbidden("you cannot disable your own account")
          yield* findUser(id)
          yield* record(actor, "user.disable", { type: "user", id })
          const user = yield* changeUser(id, { disabled: true })
          // Disabled first, then every session ended. A login racing this one either created
          // its session before the listing in `endAllSessions` (ended here) or reads the
          // account again after creating it, sees it disabled and ends it (`Accounts.login`).
          yield* accounts.endAllSessions(id)
          return user
        }, unavailable),

        enableUser: Effect.fn("Admin.enableUser")(function* (actor, id) {
          yield* findUser(id)
          yield* record(actor, "user.enable", { type: "user", id })
          return yield* changeUser(id, { disabled: false })
        }, unavailable),

        setRole: Effect.fn("Admin.setRole")(function* (actor, id, role) {
          if (id === actor.userId) return yield* forbidden("you cannot change your own role; ask another admin")
          const before = yield* findUser(id)
          yield* record(actor, "user.set_role", { type: "user", id }, `role=${role} (was ${before.role})`)
          return yield* changeUser(id, { role })
        }, unavailable),

        userSessions: Effect.fn("Admin.userSessions")(function* (id) {
          yield* findUser(id)
          return new AdminSessionList({ sessions: yield* accounts.sessionsOf(id) })
        }, unavailable),

        revokeSession: Effect.fn("Admin.revokeSession")(function* (actor, id, sessionId) {
          yield* findUser(id)
          // Only the user's own live sessions; any other id is "not found", whoever it belongs to.
          yield* accounts.sessionOf(id, sessionId)
          yield* record(actor, "session.revoke", { type: "session", id: sessionId }, `user=${id}`)
          yield* accounts.endSession(sessionId)
        }, unavailable),

        revokeSessions: Effect.fn("Admin.revokeSessions")(function* (actor, id) {
          yield* findUser(id)
          yield* record(actor, "session.revoke_all", { type: "user", id })
          return new RevokedSessions({ revoked: yield* accounts.endAllSessions(id) })
        }, unavailable),

        listRooms: Effect.fn("Admin.listRooms")(function* (query) {
          const page = yield* rooms.listAll({ after: query.cursor ?? null, limit: query.limit ?? defaultPage })
          return new AdminRoomList({ rooms: page.items.map(toAdminRoomView), next_cursor: page.next })
        }, unavailable),

        getRoom: Effect.fn("Admin.getRoom")(function* (id) {
          return toAdminRoomView(yield* findRoom(id))
        }, unavailable),

        roomMembers: Effect.fn("Admin.roomMembers")(function* (id, page) {
          yield* findRoom(id)
          const result = yield* rooms.listMembers(id, { after: page.cursor ?? null, limit: page.limit ?? defaultPage })
          return new MemberList({
            members: result.items.map(toMemberView),
            next_cursor: result.next
          })
        }, unavailable),

        archiveRoom: Effect.fn("Admin.archiveRoom")(function* (actor, id) {
          yield* findRoom(id)
          yield* record(actor, "room.archive", { type: "room", id })
          if (!(yield* rooms.archive(id))) return yield* noRoom()
          yield* announce(id, "archived")
          return toAdminRoomView(yield* findRoom(id))
        }, unavailable),

        deleteRoom: Effect.fn("Admin.deleteRoom")(function* (actor, id) {
          if (!isTimeUuid(id)) return yield* noRoom()
          const room = yield* rooms.get(id)
          if (Option.isSome(room)) yield* record(actor, "room.delete", { type: "room", id }, `name=${room.value.name}`)
          // A delete that failed halfway reads as gone already, and repeating it finishes it
          // (its audit entry was written the first time); with nothing to finish, it is 404.
          if (!(yield* rooms.delete(id))) return yield* noRoom()
          yield* announce(id, "deleted")
        }, unavailable),

        stats: Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const [counts, connected] = yield* Effect.all(
            [
              storageStats.counts(Math.floor(now / dayMs) * dayMs),
              sockets.total.pipe(
                Effect.tapError((error) => Effect.logError("socket count unavailable", error)),
                Effect.mapError(() => new ServiceUnavailable())
              )
            ],
            { concurrency: 2 }
          )
          return new Stats({
            users: counts.users,
            rooms: counts.rooms,
            messages_today: counts.messagesToday,
            sockets_connected: connected
          })
        }).pipe(unavailable, Effect.withSpan("Admin.stats")),

        audit: Effect.fn("Admin.audit")(function* (query) {
          const limit = query.limit ?? defaultPage
          // One extra entry tells whether an older page follows.
          const entries = yield* auditLog.list({ before: query.before ?? null, limit: limit + 1 })
          const page = entries.slice(0, limit)
          return new AuditPage({
            entries: page.map(toAuditEntry),
            next_cursor: entries.length > limit ? page[page.length - 1]!.id : null
          })
        }, unavailable)
      })
    })
  )
}
