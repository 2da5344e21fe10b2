import { type MessageId, timeUuidMs } from "@parley/domain"
import { Effect, FiberSet, Layer, Option } from "effect"
import { Messages } from "../messages.ts"
import { CassandraClient, uuid } from "./client.ts"
import { messagePages } from "./message-pages.ts"
import { messageColumns, toMessage } from "./message-rows.ts"
import { roomHead } from "./room-head.ts"
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

      const head = roomHead(db, bucketOf)

      return Messages.of({
        claim: head.claim,
        // The day's counter follows the stored batch (see `totals.ts`), in the background.
        append: (roomId, messages, fence) =>
          messages.length === 0
            ? Effect.void
            : head
                .append(roomId, messages, fence)
                .pipe(Effect.andThen(Effect.sync(() => runCounter(countMessages(db, roomId, messages))))),
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
          // An append moves the head before it writes the rows (see `room-head.ts`): a read
          // racing it may see the head first. Answer with the newest message the buckets show.
          return Option.fromUndefinedOr((yield* pages.listBefore(roomId, { before: null, limit: 1 }))[0])
        }),
        listBefore: pages.listBefore,
        listAfter: pages.listAfter
      })
    })
  )
