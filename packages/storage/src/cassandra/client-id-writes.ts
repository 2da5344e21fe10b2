/**
 * Writing a room's client-id entries (`room_client_ids`, read by `client-ids.ts`): since
 * `cql/015_keys_in_rows.cql` only for a batch written before 005 that a claim finds pending in a
 * room's root (its rows go into the time windows of then, whose keys no chunk sums up).
 */
import type { RoomId } from "@parley/domain"
import { Effect } from "effect"
import type { MessageRecord } from "../messages.ts"
import { type CassandraClient, uuid } from "./client.ts"
import { writeShardOf } from "./client-ids.ts"

type Statement = { readonly query: string; readonly params: ReadonlyArray<unknown> }

const clientIdInsert =
  "INSERT INTO room_client_ids (room_id, shard, user_id, client_msg_id, msg_id, seq, created_at, bucket) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

/** A message's client-id entry in the partition `bucket`. */
const clientIdEntry = (roomId: RoomId, m: MessageRecord, bucket: number): Statement => ({
  query: clientIdInsert,
  params: [
    uuid(roomId),
    writeShardOf(m.userId, m.clientMsgId!),
    uuid(m.userId),
    m.clientMsgId,
    uuid(m.id),
    m.seq,
    new Date(m.createdAt),
    new Date(bucket)
  ]
})

/**
 * The batch's client-id entries, each naming the partition of its message (a lookup reads the
 * message there): one unlogged batch per shard partition, in parallel (a batch over several
 * partitions is a warning in Cassandra's log past 5 KiB). Past the circuit breaker, like
 * everything that completes a commit.
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
