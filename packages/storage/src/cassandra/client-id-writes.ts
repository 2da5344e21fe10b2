/**
 * Writing a room's client-id entries (`room_client_ids`, read by `client-ids.ts`): beside a group
 * commit, or inside a small one's own request, and again when a claim repairs a batch.
 */
import type { RoomId } from "@parley/domain"
import { Effect } from "effect"
import type { MessageRecord } from "../messages.ts"
import { type CassandraClient, uuid } from "./client.ts"
import { writeShardOf } from "./client-ids.ts"

type Statement = { readonly query: string; readonly params: ReadonlyArray<unknown> }

/**
 * Write timestamps of client-id entries: above none of the clock-based ones (deletes, entries
 * written before 005, which stay authoritative) and rising with the writer's epoch, so that an
 * entry of a refused (older) writer can never overwrite a later owner's.
 */
export const clientIdTimestamp = (epoch: number) => 2 ** 50 + epoch

/** A commit takes its client-id entries in its own request up to this many messages and text bytes. */
const entriesInCommitMax = 4
const entriesInCommitText = 2048

const clientIdInsert =
  "INSERT INTO room_client_ids (room_id, shard, user_id, client_msg_id, msg_id, seq, created_at, bucket) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

/** A message's client-id entry in the partition `bucket`; with `timestamp`, its own (in a batch with another). */
const clientIdEntry = (roomId: RoomId, m: MessageRecord, bucket: number, timestamp?: number): Statement => ({
  query: timestamp === undefined ? clientIdInsert : `${clientIdInsert} USING TIMESTAMP ?`,
  params: [
    uuid(roomId),
    writeShardOf(m.userId, m.clientMsgId!),
    uuid(m.userId),
    m.clientMsgId,
    uuid(m.id),
    m.seq,
    new Date(m.createdAt),
    new Date(bucket),
    ...(timestamp === undefined ? [] : [timestamp])
  ]
})

/**
 * The batch's client-id entries, each naming the partition of its message (a lookup reads
 * the message there, so an entry holds only its keys, id, seq and partition: no text): one
 * unlogged batch per shard partition, in parallel. A batch over several partitions is a
 * warning in Cassandra's log above `batch_size_warn_threshold` (5 KiB: every group commit of
 * 20 sends or more) and refused above `batch_size_fail_threshold` (50 KiB); a batch on one
 * partition is neither, and goes straight to that partition's replicas. Past the circuit
 * breaker, like everything that completes a commit.
 */
export const clientIdWriter =
  (db: CassandraClient["Service"]) =>
  (
    roomId: RoomId,
    bucketOf: (m: MessageRecord) => number,
    records: ReadonlyArray<MessageRecord>,
    timestamp: number
  ) => {
    const byShard = new Map<number, Array<Statement>>()
    for (const m of records) {
      if (m.clientMsgId === null) continue
      const entry = clientIdEntry(roomId, m, bucketOf(m))
      const shard = entry.params[1] as number
      const entries = byShard.get(shard)
      if (entries === undefined) byShard.set(shard, [entry])
      else entries.push(entry)
    }
    return Effect.forEach(
      byShard.values(),
      (entries) => db.batchUnguarded("messages.append.clientIds", entries, { logged: false, timestamp }),
      { concurrency: "unbounded", discard: true }
    )
  }

/**
 * A small commit's client-id entries, to go in the commit's own request (their timestamp in
 * the statement, the commit's in the batch): one request instead of two for a send alone.
 * Only when the batch stays under Cassandra's warning size for a batch over several partitions
 * (`batch_size_warn_threshold`, 5 KiB); larger commits send them beside it.
 */
export const entriesInCommit = (
  roomId: RoomId,
  bucket: number,
  records: ReadonlyArray<MessageRecord>,
  epoch: number
) => {
  if (records.length > entriesInCommitMax) return []
  let text = 0
  for (const m of records) text += Buffer.byteLength(m.text)
  if (text > entriesInCommitText) return []
  return records.flatMap((m) => {
    if (m.clientMsgId === null) return []
    return [clientIdEntry(roomId, m, bucket, clientIdTimestamp(epoch))]
  })
}
