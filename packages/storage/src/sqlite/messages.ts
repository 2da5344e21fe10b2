import type { MessageId, MessageKind, RoomId, UserId } from "@parley/domain"
import { Effect, Layer, Option } from "effect"
import { ClientMsgIdStored, StaleWrite, type StorageError } from "../errors.ts"
import { distinctClientMsgKeys, type MessageRecord, Messages } from "../messages.ts"
import { SqliteDatabase } from "./database.ts"
import { PendingWords } from "./search-pending.ts"
import { timeUuidKey } from "./timeuuid-key.ts"

export interface MessageRow {
  readonly room_id: string
  readonly msg_id: string
  readonly seq: number
  readonly user_id: string
  readonly username: string
  readonly content: string
  readonly client_msg_id: string | null
  readonly created_at: number
  readonly kind: MessageKind
  readonly target_id: string | null
  readonly edited_at: number | null
  readonly deleted_by: string | null
}

export const toRecord = (row: MessageRow): MessageRecord => ({
  roomId: row.room_id as RoomId,
  id: row.msg_id as MessageId,
  seq: row.seq,
  kind: row.kind,
  targetId: row.target_id as MessageId | null,
  userId: row.user_id as UserId,
  username: row.username,
  text: row.content,
  clientMsgId: row.client_msg_id,
  createdAt: row.created_at,
  editedAt: row.edited_at,
  deletedBy: row.deleted_by as UserId | null
})

export const columns =
  "room_id, msg_id, seq, user_id, username, content, client_msg_id, created_at, kind, target_id, edited_at, deleted_by"

/**
 * Pages range over `msg_key` rather than resolving the cursor to a `seq`, so a cursor that
 * is not a stored id (another room's, or one in a gap) means what it means on Cassandra.
 * The upper bound "g" sorts after every hex key.
 */
export const queries = {
  claim: `INSERT INTO room_heads (room_id, last_seq, epoch) VALUES (?, 0, 1)
    ON CONFLICT (room_id) DO UPDATE SET epoch = epoch + 1 RETURNING epoch, last_seq`,
  idAt: "SELECT msg_id FROM room_messages WHERE room_id = ? AND seq = ?",
  head: "SELECT epoch, last_seq FROM room_heads WHERE room_id = ?",
  moveHead: "UPDATE room_heads SET last_seq = ? WHERE room_id = ?",
  insert: `INSERT INTO room_messages (${columns}, msg_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  // A new message's word index (migrations 7 and 10): its document id, then its text under it.
  indexDoc: "INSERT INTO message_search_docs (room_id, msg_key) VALUES (?, ?)",
  indexLater: "INSERT INTO message_search_pending (doc) VALUES (?)",
  find: `SELECT ${columns} FROM room_messages WHERE room_id = ? AND msg_key = ?`,
  // An edit's or delete's change to its target (applyChange), in the append's transaction.
  editTarget: "UPDATE room_messages SET content = ?, edited_at = ? WHERE room_id = ? AND msg_key = ?",
  deleteTarget: "UPDATE room_messages SET content = '', deleted_by = ? WHERE room_id = ? AND msg_key = ?",
  findByClientMsgId: `SELECT ${columns} FROM room_messages WHERE room_id = ? AND user_id = ? AND client_msg_id = ?`,
  // The keys as one JSON array of [user, client id] pairs; CROSS JOIN keeps json_each outside,
  // so each pair is one search of room_messages_by_client_id.
  findByClientMsgIds: `SELECT ${columns.replace(/(^|, )/g, "$1m.")} FROM json_each(?) AS k CROSS JOIN room_messages AS m
    WHERE m.room_id = ? AND m.user_id = k.value ->> 0 AND m.client_msg_id = k.value ->> 1`,
  latest: `SELECT ${columns} FROM room_messages WHERE room_id = ? ORDER BY seq DESC LIMIT 1`,
  listBefore: `SELECT ${columns} FROM room_messages WHERE room_id = ? AND msg_key < ? ORDER BY msg_key DESC LIMIT ?`,
  listAfter: `SELECT ${columns} FROM room_messages WHERE room_id = ? AND msg_key > ? ORDER BY msg_key LIMIT ?`
} as const

/**
 * The append's UNIQUE violation of `room_messages_by_client_id` (migration 2): a client id already
 * stored for its (room, user). SQLITE_CONSTRAINT_UNIQUE, naming the index's columns; the other
 * unique keys (`seq`, `msg_key`) name theirs.
 */
const isStoredClientMsgId = (error: StorageError) => {
  const cause = error.cause as { errcode?: unknown; message?: unknown } | undefined
  return (
    cause?.errcode === 2067 &&
    typeof cause.message === "string" &&
    cause.message.includes("room_messages.client_msg_id")
  )
}

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

    // New messages' words go into the search index later, together (`search-pending.ts`).
    const words = yield* PendingWords

    return Messages.of({
      claim: (roomId) =>
        db.transaction("messages.claim", (tx) => {
          const head = tx.prepare(queries.claim).get(roomId) as { epoch: number; last_seq: number }
          const last = tx.prepare(queries.idAt).get(roomId, head.last_seq) as { msg_id: MessageId } | undefined
          return { epoch: head.epoch, lastSeq: head.last_seq, lastId: last?.msg_id ?? null, repaired: [] }
        }),
      // One transaction (BEGIN IMMEDIATE, so no other writer runs between the check and the
      // inserts): the fence is checked against the head, then the rows go in (each edit or
      // delete updating its target's row, each new message marked pending for the search
      // index) and the head moves. A UNIQUE violation (seq, id or
      // client id) rolls back the whole batch; one of a client id is the caller's to handle
      // (`ClientMsgIdStored`: the room actor looks its batch's keys up then, not before).
      append: (roomId, messages, fence) => {
        const last = messages.at(-1)
        if (last === undefined) return Effect.void
        return db
          .transaction("messages.append", (tx) => {
            const head = tx.prepare(queries.head).get(roomId) as { epoch: number; last_seq: number } | undefined
            if (head === undefined || head.epoch !== fence.epoch) return "deposed" as const
            if (head.last_seq !== fence.afterSeq) return "stale head" as const
            const insert = tx.prepare(queries.insert)
            const indexDoc = tx.prepare(queries.indexDoc)
            const indexLater = tx.prepare(queries.indexLater)
            const editTarget = tx.prepare(queries.editTarget)
            const deleteTarget = tx.prepare(queries.deleteTarget)
            for (const m of messages) {
              const key = timeUuidKey(m.id)
              insert.run(
                roomId,
                m.id,
                m.seq,
                m.userId,
                m.username,
                m.text,
                m.clientMsgId,
                m.createdAt,
                m.kind,
                m.targetId,
                m.editedAt,
                m.deletedBy,
                key
              )
              if (m.kind === "message" && m.deletedBy === null) {
                indexLater.run(indexDoc.run(roomId, key).lastInsertRowid)
              }
              // The target may be earlier in this batch: its row is already inserted (and indexed) above.
              if (m.kind === "edit" && m.targetId !== null) {
                editTarget.run(m.text, m.createdAt, roomId, timeUuidKey(m.targetId))
              } else if (m.kind === "delete" && m.targetId !== null) {
                deleteTarget.run(m.userId, roomId, timeUuidKey(m.targetId))
              }
            }
            tx.prepare(queries.moveHead).run(last.seq, roomId)
            return null
          })
          .pipe(
            Effect.catchIf(isStoredClientMsgId, () => Effect.fail(new ClientMsgIdStored({ roomId }))),
            Effect.flatMap((reason) =>
              reason === null ? words.added(messages.length) : Effect.fail(new StaleWrite({ roomId, reason }))
            )
          )
      },
      refusesStoredClientMsgIds: true,
      find: (roomId, msgId) => one("messages.find", queries.find, roomId, timeUuidKey(msgId)),
      findByClientMsgId: (roomId, userId, clientMsgId) =>
        one("messages.findByClientMsgId", queries.findByClientMsgId, roomId, userId, clientMsgId),
      findByClientMsgIds: (roomId, keys) =>
        keys.length === 0
          ? Effect.succeed([])
          : db
              .all<MessageRow>(
                "messages.findByClientMsgIds",
                queries.findByClientMsgIds,
                JSON.stringify(distinctClientMsgKeys(keys).map((k) => [k.userId, k.clientMsgId])),
                roomId
              )
              .pipe(Effect.map((rows) => rows.map(toRecord))),
      latest: (roomId) => one("messages.latest", queries.latest, roomId),
      // Nothing is kept in memory per claim.
      release: () => Effect.void,
      listBefore: (roomId, { before, limit }) =>
        many("messages.listBefore", queries.listBefore, roomId, before === null ? "g" : timeUuidKey(before), limit),
      listAfter: (roomId, { after, limit }) =>
        many("messages.listAfter", queries.listAfter, roomId, after === null ? "" : timeUuidKey(after), limit)
    })
  })
)
