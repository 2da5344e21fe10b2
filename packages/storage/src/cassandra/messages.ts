import { type MessageId, type RoomId, timeUuidMicros, timeUuidMs } from "@parley/domain"
import { Effect, FiberSet, Layer, Option } from "effect"
import { type MessageRecord, Messages } from "../messages.ts"
import { CassandraClient, uuid } from "./client.ts"
import { messagePages } from "./message-pages.ts"
import { messageColumns, messageValues, toMessage } from "./message-rows.ts"
import { countMessages } from "./totals.ts"

/**
 * Message history in `bucketMs`-wide time windows (`CASSANDRA_MESSAGE_BUCKET`). A message's
 * bucket is the START of the window holding its id's time, so it stays a valid partition
 * key whatever the window size becomes later.
 */
export const CassandraMessages = (bucketMs: number) =>
  Layer.effect(
    Messages,
    Effect.gen(function* () {
      const db = yield* CassandraClient
      const pages = messagePages(db)
      // The day's counter is bookkeeping for operators: acks must not wait for it.
      const runCounter = yield* FiberSet.makeRuntime()
      const bucketOf = (id: MessageId) => Math.floor(timeUuidMs(id) / bucketMs) * bucketMs

      /** Messages, their buckets' index rows, client-id copies and the head: one logged batch. */
      const appendWrites = (roomId: RoomId, messages: ReadonlyArray<MessageRecord>, last: MessageRecord) => {
        const room = uuid(roomId)
        const buckets = new Set(messages.map((m) => bucketOf(m.id)))
        return [
          ...messages.map((m) => ({
            query: `INSERT INTO room_messages (room_id, bucket, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            params: [room, new Date(bucketOf(m.id)), ...messageValues(m)]
          })),
          ...[...buckets].map((bucket) => ({
            query: "INSERT INTO room_buckets (room_id, bucket) VALUES (?, ?)",
            params: [room, new Date(bucket)]
          })),
          ...messages
            .filter((m) => m.clientMsgId !== null)
            .map((m) => ({
              query: `INSERT INTO room_messages_by_client_id (room_id, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
              params: [room, ...messageValues(m)]
            })),
          {
            query: "UPDATE room_heads SET last_seq = ?, last_msg_id = ?, last_bucket = ? WHERE room_id = ?",
            params: [last.seq, uuid(last.id), new Date(bucketOf(last.id)), room]
          }
        ]
      }

      return Messages.of({
        append: (roomId, messages) => {
          const last = messages.at(-1)
          // Timestamped by the newest message, not by this node's clock: a room's head always
          // ends up at its newest message, whichever node wrote last and however skewed.
          // The day's counter follows the stored batch (see `totals.ts`), in the background.
          return last === undefined
            ? Effect.void
            : db
                .batch("messages.append", appendWrites(roomId, messages, last), { timestamp: timeUuidMicros(last.id) })
                .pipe(Effect.andThen(Effect.sync(() => runCounter(countMessages(db, roomId, messages)))))
        },
        findByClientMsgId: (roomId, userId, clientMsgId) =>
          db
            .execute(
              "messages.findByClientMsgId",
              `SELECT ${messageColumns} FROM room_messages_by_client_id WHERE room_id = ? AND user_id = ? AND client_msg_id = ?`,
              [uuid(roomId), uuid(userId), clientMsgId]
            )
            .pipe(Effect.map((rs) => Option.map(Option.fromNullishOr(rs.first()), (row) => toMessage(roomId, row)))),
        latest: Effect.fn("Messages.latest")(function* (roomId) {
          const head = (yield* db.execute(
            "messages.latest.head",
            "SELECT last_msg_id, last_bucket FROM room_heads WHERE room_id = ?",
            [uuid(roomId)]
          )).first()
          if (head === null || head === undefined) return Option.none()
          const row = (yield* db.execute(
            "messages.latest",
            `SELECT ${messageColumns} FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id = ?`,
            [uuid(roomId), head.get("last_bucket"), head.get("last_msg_id")]
          )).first()
          if (row !== null && row !== undefined) return Option.some(toMessage(roomId, row))
          // A logged batch is atomic but not isolated: a read racing an append may see the
          // head before its message. Answer with the newest message the buckets show instead.
          return Option.fromUndefinedOr((yield* pages.listBefore(roomId, { before: null, limit: 1 }))[0])
        }),
        listBefore: pages.listBefore,
        listAfter: pages.listAfter
      })
    })
  )
