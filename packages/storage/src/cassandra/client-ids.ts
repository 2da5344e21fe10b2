/**
 * `findByClientMsgId` on Cassandra, batched: lookups started together (a room actor looks up
 * every send of a batch at once) go out as one query per (room, user) with the client ids
 * `IN (...)`, so a group commit pays one read round trip for its retries check, not one per
 * message.
 *
 * An entry naming its partition (`bucket`, written since 005 beside its batch's commit, which
 * may have been refused, see `room-head.ts`) counts only once its message is found there;
 * entries written before 005 followed their commit and are trusted as they are.
 */
import type { MessageId, RoomId, UserId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Effect, Exit, Option, Request, RequestResolver } from "effect"
import type { StorageError } from "../errors.ts"
import type { MessageRecord } from "../messages.ts"
import { type CassandraClient, uuid } from "./client.ts"
import { messageColumns, toMessage } from "./message-rows.ts"

interface FindByClientId extends Request.Request<Option.Option<MessageRecord>, StorageError> {
  readonly _tag: "FindByClientId"
  readonly roomId: RoomId
  readonly userId: UserId
  readonly clientMsgId: string
}
const FindByClientId = Request.tagged<FindByClientId>("FindByClientId")

/** Client ids per query: the IN list stays well inside what a coordinator handles at once. */
const idsPerQuery = 128

const chunks = <A>(xs: ReadonlyArray<A>, size: number) =>
  Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size))

export const clientIdLookup = (db: CassandraClient["Service"]) => {
  /** The entries stored for one (room, user) among `ids`, checked against their partitions. */
  const lookup = Effect.fnUntraced(function* (roomId: RoomId, userId: UserId, ids: ReadonlyArray<string>) {
    const rows = (yield* Effect.forEach(
      chunks(ids, idsPerQuery),
      (some) =>
        db.execute(
          "messages.findByClientMsgId",
          `SELECT ${messageColumns}, bucket FROM room_messages_by_client_id WHERE room_id = ? AND user_id = ? AND client_msg_id IN ?`,
          [uuid(roomId), uuid(userId), some]
        ),
      { concurrency: "unbounded" }
    )).flatMap((rs) => rs.rows)
    const found = new Map<string, MessageRecord>()
    const byBucket = new Map<number, Array<cassandra.types.Row>>()
    for (const row of rows) {
      const bucket = (row.get("bucket") as Date | null)?.getTime()
      if (bucket === undefined) found.set(row.get("client_msg_id"), toMessage(roomId, row))
      else byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), row])
    }
    yield* Effect.forEach(
      byBucket,
      ([bucket, candidates]) =>
        Effect.map(
          db.execute(
            "messages.findByClientMsgId.check",
            "SELECT msg_id FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id IN ?",
            [uuid(roomId), new Date(bucket), candidates.map((row) => row.get("msg_id"))]
          ),
          (rs) => {
            const stored = new Set(rs.rows.map((row) => row.get("msg_id").toString() as MessageId))
            for (const row of candidates) {
              const message = toMessage(roomId, row)
              if (stored.has(message.id)) found.set(row.get("client_msg_id"), message)
            }
          }
        ),
      { concurrency: "unbounded", discard: true }
    )
    return found
  })

  const resolver = RequestResolver.make<FindByClientId>((entries) => {
    const groups = new Map<string, Array<Request.Entry<FindByClientId>>>()
    for (const entry of entries) {
      const key = `${entry.request.roomId}/${entry.request.userId}`
      groups.set(key, [...(groups.get(key) ?? []), entry])
    }
    return Effect.forEach(
      groups.values(),
      (group) => {
        const { roomId, userId } = group[0]!.request
        const ids = [...new Set(group.map((e) => e.request.clientMsgId))]
        return Effect.exit(lookup(roomId, userId, ids)).pipe(
          Effect.map((exit) => {
            for (const entry of group) {
              entry.completeUnsafe(
                Exit.map(exit, (found) => Option.fromUndefinedOr(found.get(entry.request.clientMsgId)))
              )
            }
            return group.length
          })
        )
      },
      { concurrency: "unbounded", discard: true }
    )
  })

  return (roomId: RoomId, userId: UserId, clientMsgId: string) =>
    Effect.request(FindByClientId({ roomId, userId, clientMsgId }), resolver)
}
