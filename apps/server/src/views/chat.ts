/**
 * Stored records as the API shows them, shared by HTTP handlers, the room actor, the hub and
 * WebSocket connections. Plain mappers with no rules: who may see what is `chat/rooms.ts`.
 */
import { type MemberRole, MemberView, MessageView, RoomView } from "@parley/domain"
import type { MembershipRecord, MessageRecord, RoomRecord } from "@parley/storage"

/** An epoch-ms time as the API writes it (ISO 8601, UTC). */
export const iso = (ms: number) => new Date(ms).toISOString()

export const toRoomView = (room: RoomRecord, role: MemberRole | null) =>
  new RoomView({
    room_id: room.id,
    name: room.name,
    visibility: room.visibility,
    created_by: room.createdBy,
    created_at: iso(room.createdAt),
    role,
    archived: room.archived
  })

export const toMessageView = (m: MessageRecord) =>
  new MessageView({
    room_id: m.roomId,
    msg_id: m.id,
    seq: m.seq,
    kind: m.kind,
    target_id: m.targetId,
    user_id: m.userId,
    username: m.username,
    text: m.text,
    client_msg_id: m.clientMsgId,
    created_at: iso(m.createdAt),
    edited_at: m.editedAt === null ? null : iso(m.editedAt),
    deleted_by: m.deletedBy
  })

/** A stored membership as the API shows it, to room admins and to operators alike. */
export const toMemberView = (m: MembershipRecord) =>
  new MemberView({ user_id: m.userId, role: m.role, joined_at: iso(m.joinedAt) })
