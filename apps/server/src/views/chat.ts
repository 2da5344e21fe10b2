/**
 * Stored records as the API shows them, shared by HTTP handlers, the room actor, the hub and
 * WebSocket connections. Plain mappers with no rules: who may see what is `chat/rooms.ts`.
 */
import { type MemberRole, MemberView, MessageView, RoomPeer, RoomView, type UserId } from "@parley/domain"
import type { MembershipRecord, MessageRecord, RoomRecord } from "@parley/storage"

/** An epoch-ms time as the API writes it (ISO 8601, UTC). */
export const iso = (ms: number) => new Date(ms).toISOString()

/** A direct room's other user, as `viewer` sees the room; null for other rooms. */
export const peerOf = (room: RoomRecord, viewer: UserId) => {
  if (room.direct === undefined) return null
  const [first, second] = room.direct
  const peer = first.id === viewer ? second : first
  return new RoomPeer({ user_id: peer.id, username: peer.username })
}

/** What a room view says about the viewer's reading of it (`chat/reading.ts`). */
export type RoomReading = Pick<RoomView, "unread" | "read_seq" | "last_message">

/** Nothing read, nothing unread, no message shown: a new room, or one shown without its head. */
export const nothingRead: RoomReading = { unread: 0, read_seq: 0, last_message: null }

/** The room as `viewer` sees it: a direct room is named by its other user. */
export const toRoomView = (
  room: RoomRecord,
  role: MemberRole | null,
  viewer: UserId,
  reading: RoomReading = nothingRead
) => {
  const peer = peerOf(room, viewer)
  return new RoomView({
    room_id: room.id,
    name: peer === null ? room.name : peer.username,
    visibility: room.visibility,
    created_by: room.createdBy,
    created_at: iso(room.createdAt),
    role,
    archived: room.archived,
    kind: room.direct === undefined ? "room" : "direct",
    peer,
    ...reading
  })
}

/** Built from a record that was checked on its way in (a decoded send, a stored row). */
export const toMessageView = (m: MessageRecord) =>
  new MessageView(
    {
      room_id: m.roomId,
      msg_id: m.id,
      seq: m.seq,
      user_id: m.userId,
      username: m.username,
      text: m.text,
      client_msg_id: m.clientMsgId,
      created_at: iso(m.createdAt),
      kind: m.kind,
      target_id: m.targetId,
      edited_at: m.editedAt === null ? null : iso(m.editedAt),
      deleted_by: m.deletedBy
    },
    { disableChecks: true }
  )

/** A stored membership as the API shows it, to room admins and to operators alike. */
export const toMemberView = (m: MembershipRecord) =>
  new MemberView({ user_id: m.userId, role: m.role, joined_at: iso(m.joinedAt) })
