import {
  Forbidden,
  type InvalidRequest,
  isTimeUuid,
  MemberList,
  type MemberRole,
  type MemberView,
  MessagePage,
  type MessageQuery,
  NotFound,
  type NotMember,
  type ReadMarker,
  type RoomId,
  RoomList,
  type RoomListQuery,
  type RoomView,
  type ServiceUnavailable,
  timeUuidFrom,
  type UserId,
  type Visibility
} from "@parley/domain"
import { type MembershipRecord, Messages, type RoomRecord, Rooms as RoomStore, Users } from "@parley/storage"
import { Clock, Context, Effect, type Exit, Layer, Option } from "effect"
import { historyPage } from "../history/reader.ts"
import { Broker } from "../realtime/broker.ts"
import { Revocations } from "../realtime/revocations.ts"
import { unavailable } from "../storage-errors.ts"
import { toMemberView, toMessageView, toRoomView } from "../views/chat.ts"
import { moveReadMarker, readingOf, roomHead } from "./reading.ts"

/** A private room is "not found" to outsiders, so its existence does not leak. */
const hidden = () => new NotFound({ error: { code: "not_found", message: "no such room" } })
const forbidden = (message: string) => new Forbidden({ error: { code: "forbidden", message } })
/** A direct room's members are its two users, for good (see `direct-rooms.ts`). */
const fixedMembers = () =>
  forbidden("a direct room has exactly its two users: members cannot be added, removed, changed or leave")

/** Which room a caller may see, and their standing in it. */
export interface RoomAccess {
  readonly room: RoomRecord
  readonly role: MemberRole | null
}

/** `access`'s outcome read ahead (the URL's room, read with the session at a WebSocket upgrade). */
export type RoomAccessResult = Exit.Exit<RoomAccess, NotFound | ServiceUnavailable>

const defaultPage = 50

/**
 * The rules of rooms: who sees, joins, manages and reads what. Storage failures become
 * 503; every other refusal is a typed 403/404 the caller can act on.
 */
export class ChatRooms extends Context.Service<
  ChatRooms,
  {
    readonly create: (
      caller: UserId,
      request: { readonly name: string; readonly visibility?: Visibility }
    ) => Effect.Effect<RoomView, ServiceUnavailable>
    readonly list: (caller: UserId, query: typeof RoomListQuery.Type) => Effect.Effect<RoomList, ServiceUnavailable>
    /** The room if the caller may read it (public, or a member); else `not_found`. */
    readonly access: (caller: UserId, roomId: RoomId) => Effect.Effect<RoomAccess, NotFound | ServiceUnavailable>
    /** The room if the caller may post in it (a member, not archived); else `forbidden` / `not_found`. */
    readonly postable: (
      caller: UserId,
      roomId: RoomId
    ) => Effect.Effect<RoomRecord, Forbidden | NotFound | ServiceUnavailable>
    /**
     * Whether the caller may edit or delete messages in the room, before the room's actor
     * checks the message itself (`message-changes.ts`): refused like a send (archived, not a
     * member; a site admin deletes without being one). `moderator`: may delete others'
     * messages (the room's owner or an admin, or a site admin).
     */
    readonly changeable: (
      caller: { readonly id: UserId; readonly siteAdmin: boolean },
      roomId: RoomId,
      kind: "edit" | "delete"
    ) => Effect.Effect<{ readonly moderator: boolean }, Forbidden | NotFound | ServiceUnavailable>
    readonly join: (caller: UserId, roomId: RoomId) => Effect.Effect<RoomView, NotFound | ServiceUnavailable>
    /** The room as the caller sees it, with their unread count, marker and the last message. */
    readonly view: (caller: UserId, roomId: RoomId) => Effect.Effect<RoomView, NotFound | ServiceUnavailable>
    /**
     * Moves the caller's read marker forward to `seq` (members only; above the head: the head)
     * and tells their other sockets (`origin`: the socket asking, null over HTTP).
     */
    readonly markRead: (
      caller: UserId,
      roomId: RoomId,
      seq: number,
      origin: string | null
    ) => Effect.Effect<ReadMarker, NotFound | NotMember | ServiceUnavailable>
    readonly leave: (caller: UserId, roomId: RoomId) => Effect.Effect<void, Forbidden | NotFound | ServiceUnavailable>
    readonly members: (
      caller: UserId,
      roomId: RoomId,
      page: { readonly limit?: number; readonly cursor?: UserId }
    ) => Effect.Effect<MemberList, NotFound | ServiceUnavailable>
    readonly putMember: (
      caller: UserId,
      roomId: RoomId,
      target: UserId,
      role: "admin" | "member"
    ) => Effect.Effect<MemberView, Forbidden | NotFound | ServiceUnavailable>
    readonly removeMember: (
      caller: UserId,
      roomId: RoomId,
      target: UserId
    ) => Effect.Effect<void, Forbidden | NotFound | ServiceUnavailable>
    readonly history: (
      caller: UserId,
      roomId: RoomId,
      query: typeof MessageQuery.Type
    ) => Effect.Effect<MessagePage, InvalidRequest | NotFound | ServiceUnavailable>
  }
>()("parley/server/chat/ChatRooms") {
  static readonly layer = Layer.effect(
    ChatRooms,
    Effect.gen(function* () {
      const store = yield* RoomStore
      const messages = yield* Messages
      const users = yield* Users
      const broker = yield* Broker
      const revocations = yield* Revocations

      /**
       * Removes a member and tells their open connections, wherever they are, right away: all
       * of them forget that they may post here, and those subscribed re-check what they read.
       */
      const removeMember = (roomId: RoomId, userId: UserId) =>
        Effect.andThen(
          store.removeMember(roomId, userId),
          Effect.andThen(
            revocations.publish({ kind: "membership", room_id: roomId, user_id: userId }),
            broker
              .publish(roomId, { kind: "membership", user_id: userId })
              .pipe(Effect.catchCause((cause) => Effect.logWarning("membership broadcast failed", cause)))
          )
        )

      // Untraced: every upgrade into a room and every post's check runs it, and a traced
      // function captures a stack per call (a twentieth of an upgrade's CPU). The operations that
      // call it have spans of their own.
      const access = Effect.fnUntraced(function* (caller: UserId, roomId: RoomId) {
        // Every room id is a TIMEUUID; any other UUID names no room (and Cassandra's
        // `timeuuid` columns would refuse it with an error, not an empty answer).
        if (!isTimeUuid(roomId)) return yield* hidden()
        const found = yield* store.getWithMembership(roomId, caller)
        if (Option.isNone(found)) return yield* hidden()
        const { room, membership } = found.value
        const role = Option.match(membership, { onNone: () => null, onSome: (m) => m.role })
        if (room.visibility === "private" && role === null) return yield* hidden()
        return { room, role } satisfies RoomAccess
      })

      /** The room as the caller sees it, with their reading of it: its head, and their marker if a member. */
      const withReading = Effect.fnUntraced(function* (caller: UserId, found: RoomAccess) {
        const [head, marker] = yield* Effect.all(
          [
            roomHead(messages, found.room.id),
            found.role === null ? Effect.succeedNone : store.readMarker(found.room.id, caller)
          ],
          { concurrency: 2 }
        )
        return toRoomView(found.room, found.role, caller, readingOf(head, Option.getOrNull(marker)))
      })

      const manager = Effect.fn("ChatRooms.manager")(function* (caller: UserId, roomId: RoomId) {
        const found = yield* access(caller, roomId)
        if (found.room.direct !== undefined) return yield* fixedMembers()
        if (found.role !== "owner" && found.role !== "admin") {
          return yield* forbidden("only the room's owner and admins manage its members")
        }
        return found
      })

      return ChatRooms.of({
        create: Effect.fn("ChatRooms.create")(function* (caller, request) {
          const now = yield* Clock.currentTimeMillis
          const room: RoomRecord = {
            id: timeUuidFrom(now, Math.floor(Math.random() * 10_000)) as RoomId,
            name: request.name,
            visibility: request.visibility ?? "public",
            createdBy: caller,
            createdAt: now,
            archived: false
          }
          yield* store.create(room)
          return toRoomView(room, "owner", caller)
        }, unavailable),

        list: Effect.fn("ChatRooms.list")(function* (caller, query) {
          const limit = query.limit ?? defaultPage
          const after = query.cursor ?? null
          if (query.scope === "public") {
            const page = yield* store.listPublic({ after, limit })
            const roles = yield* Effect.forEach(page.items, (room) => store.membership(room.id, caller), {
              concurrency: 8
            })
            const heads = yield* Effect.forEach(page.items, (room) => roomHead(messages, room.id), { concurrency: 8 })
            return new RoomList({
              rooms: page.items.map((room, i) =>
                toRoomView(
                  room,
                  Option.match(roles[i]!, { onNone: () => null, onSome: (m) => m.role }),
                  caller,
                  // The directory shows what is said, not what the caller has read of it.
                  readingOf(heads[i]!, null)
                )
              ),
              next_cursor: page.next
            })
          }
          const page = yield* store.listForUser(caller, { after, limit })
          const heads = yield* Effect.forEach(page.items, ({ room }) => roomHead(messages, room.id), { concurrency: 8 })
          return new RoomList({
            rooms: page.items.map(({ room, role, readSeq }, i) =>
              toRoomView(room, role, caller, readingOf(heads[i]!, readSeq))
            ),
            next_cursor: page.next
          })
        }, unavailable),

        access: (caller, roomId) => unavailable(access(caller, roomId)),

        view: Effect.fn("ChatRooms.view")(function* (caller, roomId) {
          return yield* withReading(caller, yield* access(caller, roomId))
        }, unavailable),

        markRead: Effect.fn("ChatRooms.markRead")(function* (caller, roomId, seq, origin) {
          const found = yield* access(caller, roomId)
          return yield* moveReadMarker(
            { store, messages, revocations },
            caller,
            { id: roomId, role: found.role },
            seq,
            origin
          )
        }, unavailable),

        postable: Effect.fn("ChatRooms.postable")(function* (caller, roomId) {
          const found = yield* access(caller, roomId)
          if (found.room.archived)
            return yield* forbidden("this room is archived: its history stays, new messages are refused")
          if (found.role === null) return yield* forbidden("join the room before posting in it")
          return found.room
        }, unavailable),

        changeable: Effect.fn("ChatRooms.changeable")(function* (caller, roomId, kind) {
          const found = yield* access(caller.id, roomId)
          if (found.room.archived) {
            return yield* forbidden("this room is archived: its messages can no longer be edited or deleted")
          }
          if (found.role === null && !(kind === "delete" && caller.siteAdmin)) {
            return yield* forbidden("join the room before changing its messages")
          }
          return { moderator: caller.siteAdmin || found.role === "owner" || found.role === "admin" }
        }, unavailable),

        join: Effect.fn("ChatRooms.join")(function* (caller, roomId) {
          const found = yield* access(caller, roomId)
          if (found.role !== null) return yield* withReading(caller, found)
          const now = yield* Clock.currentTimeMillis
          yield* store.putMember({ roomId, userId: caller, role: "member", joinedAt: now })
          // A new member has read nothing yet: everything in the room is unread.
          return yield* withReading(caller, { room: found.room, role: "member" })
        }, unavailable),

        leave: Effect.fn("ChatRooms.leave")(function* (caller, roomId) {
          const found = yield* access(caller, roomId)
          // Leaving a public room one is not in is already done, as with DELETE …/members/me.
          if (found.role === null) return
          if (found.room.direct !== undefined) return yield* fixedMembers()
          if (found.role === "owner") return yield* forbidden("the owner cannot leave the room")
          yield* removeMember(roomId, caller)
        }, unavailable),

        members: Effect.fn("ChatRooms.members")(function* (caller, roomId, page) {
          yield* access(caller, roomId)
          const result = yield* store.listMembers(roomId, {
            after: page.cursor ?? null,
            limit: page.limit ?? defaultPage
          })
          return new MemberList({ members: result.items.map(toMemberView), next_cursor: result.next })
        }, unavailable),

        putMember: Effect.fn("ChatRooms.putMember")(function* (caller, roomId, target, role) {
          const { role: callerRole } = yield* manager(caller, roomId)
          if (role === "admin" && callerRole !== "owner") return yield* forbidden("only the owner makes admins")
          if (Option.isNone(yield* users.findById(target))) {
            return yield* new NotFound({ error: { code: "not_found", message: "no such user" } })
          }
          const existing = yield* store.membership(roomId, target)
          if (Option.isSome(existing)) {
            if (existing.value.role === "owner") return yield* forbidden("the owner's role cannot change")
            if (existing.value.role === "admin" && callerRole !== "owner") {
              return yield* forbidden("only the owner changes an admin's role")
            }
          }
          const now = yield* Clock.currentTimeMillis
          const member: MembershipRecord = {
            roomId,
            userId: target,
            role,
            joinedAt: Option.match(existing, { onNone: () => now, onSome: (m) => m.joinedAt })
          }
          yield* store.putMember(member)
          return toMemberView(member)
        }, unavailable),

        removeMember: Effect.fn("ChatRooms.removeMember")(function* (caller, roomId, target) {
          if (target === caller) {
            const found = yield* access(caller, roomId)
            if (found.room.direct !== undefined) return yield* fixedMembers()
            if (found.role === "owner") return yield* forbidden("the owner cannot leave the room")
            return yield* removeMember(roomId, caller)
          }
          const { role: callerRole } = yield* manager(caller, roomId)
          const existing = yield* store.membership(roomId, target)
          if (Option.isNone(existing))
            return yield* new NotFound({ error: { code: "not_found", message: "not a member" } })
          if (existing.value.role === "owner") return yield* forbidden("the owner cannot be removed")
          if (existing.value.role === "admin" && callerRole !== "owner") {
            return yield* forbidden("only the owner removes admins")
          }
          yield* removeMember(roomId, target)
        }, unavailable),

        history: Effect.fn("ChatRooms.history")(function* (caller, roomId, query) {
          yield* access(caller, roomId)
          const page = yield* historyPage(messages, roomId, {
            after: query.after,
            before: query.before,
            limit: query.limit ?? defaultPage
          })
          return new MessagePage({ messages: page.records.map(toMessageView), next_cursor: page.next })
        }, unavailable)
      })
    })
  )
}
