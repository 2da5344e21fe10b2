import type { MessageId, RoomId, UserId } from "@parley/domain"
import cassandra from "cassandra-driver"
import type { MessageRecord } from "../messages.ts"

/** Selected from both `room_messages` and `room_messages_by_client_id`, which share them. */
export const messageColumns = "msg_id, seq, user_id, username, content, client_msg_id, created_at"

/** Values for `messageColumns`. An absent client id is left unset: a bound null would write a tombstone. */
export const messageValues = (m: MessageRecord) => [
  cassandra.types.Uuid.fromString(m.id),
  m.seq,
  cassandra.types.Uuid.fromString(m.userId),
  m.username,
  m.text,
  m.clientMsgId ?? cassandra.types.unset,
  new Date(m.createdAt)
]

export const epochMs = (row: cassandra.types.Row, column: string) => (row.get(column) as Date).getTime()

export const toMessage = (roomId: RoomId, row: cassandra.types.Row): MessageRecord => ({
  roomId,
  id: row.get("msg_id").toString() as MessageId,
  seq: (row.get("seq") as cassandra.types.Long).toNumber(),
  userId: row.get("user_id").toString() as UserId,
  username: row.get("username"),
  text: row.get("content"),
  clientMsgId: row.get("client_msg_id") ?? null,
  createdAt: epochMs(row, "created_at")
})
