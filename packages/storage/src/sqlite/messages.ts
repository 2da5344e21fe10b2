import type { MessageId, RoomId, UserId } from "@parley/domain"
import { Effect, Layer, Option } from "effect"
import { type MessageRecord, Messages } from "../messages.ts"
import { SqliteDatabase } from "./database.ts"
import { timeUuidKey } from "./timeuuid-key.ts"

interface MessageRow {
  readonly room_id: string
  readonly msg_id: string
  readonly seq: number
  readonly user_id: string
  readonly username: string
  readonly content: string
  readonly client_msg_id: string | null
  readonly created_at: number
}

const toRecord = (row: MessageRow): MessageRecord => ({
  roomId: row.room_id as RoomId,
  id: row.msg_id as MessageId,
  seq: row.seq,
  userId: row.user_id as UserId,
  username: row.username,
  text: row.content,
  clientMsgId: row.client_msg_id,
  createdAt: row.created_at
})

const columns = "room_id, msg_id, seq, user_id, username, content, client_msg_id, created_at"

/**
 * Pages range over `msg_key` rather than resolving the cursor to a `seq`, so a cursor that
 * is not a stored id (another room's, or one in a gap) means what it means on Cassandra.
 * The upper bound "g" sorts after every hex key.
 */
export const queries = {
  insert: `INSERT INTO room_messages (${columns}, msg_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  findByClientMsgId: `SELECT ${columns} FROM room_messages WHERE room_id = ? AND user_id = ? AND client_msg_id = ?`,
  latest: `SELECT ${columns} FROM room_messages WHERE room_id = ? ORDER BY seq DESC LIMIT 1`,
  listBefore: `SELECT ${columns} FROM room_messages WHERE room_id = ? AND msg_key < ? ORDER BY msg_key DESC LIMIT ?`,
  listAfter: `SELECT ${columns} FROM room_messages WHERE room_id = ? AND msg_key > ? ORDER BY msg_key LIMIT ?`
} as const

export const SqliteMessages = Layer.effect(
  Messages,
  Effect.gen(function* () {
    const db = yield* SqliteDatabase
    const one = (operation: string, sql: string, ...params: Array<string>) =>
      db
        .get<MessageRow>(operation, sql, ...params)
        .pipe(Effect.map((row) => Option.map(Option.fromUndefinedOr(row), toRecord)))
    const many = (operation: string, sql: string, roomId: RoomId, bound: string, limit: number) =>
      db.all<MessageRow>(operation, sql, roomId, bound, limit).pipe(Effect.map((rows) => rows.map(toRecord)))

    return Messages.of({
      // One transaction: a UNIQUE violation (seq, id or client id) rolls back the whole batch.
      append: (roomId, messages) =>
        db.transaction("messages.append", (tx) => {
          const insert = tx.prepare(queries.insert)
          for (const m of messages) {
            insert.run(roomId, m.id, m.seq, m.userId, m.username, m.text, m.clientMsgId, m.createdAt, timeUuidKey(m.id))
          }
        }),
      findByClientMsgId: (roomId, userId, clientMsgId) =>
        one("messages.findByClientMsgId", queries.findByClientMsgId, roomId, userId, clientMsgId),
      latest: (roomId) => one("messages.latest", queries.latest, roomId),
      listBefore: (roomId, { before, limit }) =>
        many("messages.listBefore", queries.listBefore, roomId, before === null ? "g" : timeUuidKey(before), limit),
      listAfter: (roomId, { after, limit }) =>
        many("messages.listAfter", queries.listAfter, roomId, after === null ? "" : timeUuidKey(after), limit)
    })
  })
)
