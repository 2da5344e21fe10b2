/**
 * Edits and deletes on Cassandra (see `cql/007_edits.cql`). An edit or delete is a row of the
 * room's stream, stored by the normal group commit; the same append updates its target's row
 * to the target's current state. Where that update goes depends on where the target lies:
 * in the batch itself (the inserted row is already changed), in the partition the batch
 * commits to (the update joins its conditional batch), or in an older partition (an LWT
 * right after the commit, re-applied by the next claim if a crash cut it off).
 */
import { type MessageId, type RoomId, timeUuidMs } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Effect, Option } from "effect"
import { applyChange, type MessageRecord } from "../messages.ts"
import { messageTerms } from "../search-terms.ts"
import { type CassandraClient, uuid } from "./client.ts"
import { rowColumns, toMessage } from "./message-rows.ts"

export const isChange = (m: MessageRecord) => m.kind !== "message" && m.targetId !== null

/**
 * The rows a batch inserts, with each change to a message of the same batch applied to that
 * message's row, and the changes whose targets lie outside the batch, in batch order.
 */
export const foldBatch = (records: ReadonlyArray<MessageRecord>) => {
  const rows = [...records]
  const index = new Map(records.map((m, i) => [m.id as string, i] as const))
  const outside: Array<MessageRecord> = []
  for (const m of records) {
    if (!isChange(m)) continue
    const i = index.get(m.targetId!)
    if (i === undefined) outside.push(m)
    else rows[i] = applyChange(rows[i]!, m)
  }
  return { rows, outside }
}

/** A batch's changes outside it, one entry per target: its changes in batch order. */
export const byTarget = (changes: ReadonlyArray<MessageRecord>) => {
  const targets = new Map<MessageId, Array<MessageRecord>>()
  for (const c of changes) targets.set(c.targetId!, [...(targets.get(c.targetId!) ?? []), c])
  return [...targets.values()]
}

/**
 * The one UPDATE a target's changes (in batch order) make to its row in `bucket` (its text, its
 * edit time, who deleted it, the words of its new text): one statement, since two statements of
 * one batch writing the same cell share a timestamp and Cassandra would keep the greater value,
 * not the later one. The words are added to the row's `terms`, never replaced
 * (`cql/013_search_per_batch.cql`): the row may end a chunk and hold its other messages' words
 * too; a delete adds none. As a statement of the commit's conditional batch it is plain; on its
 * own (an older partition) it is an LWT `IF EXISTS`: its Paxos ballot is newer than every
 * earlier write of that partition (the row's insert, earlier edits), so it wins whatever the
 * clocks, and it never creates a row.
 */
export const targetUpdate = (roomId: RoomId, bucket: number, changes: ReadonlyArray<MessageRecord>, alone: boolean) => {
  const lastEdit = changes.findLast((c) => c.kind === "edit")
  const deleted = changes.find((c) => c.kind === "delete")
  const set: Array<string> = ["content = ?"]
  const values: Array<unknown> = [deleted !== undefined ? "" : lastEdit!.text]
  const words = deleted !== undefined ? [] : messageTerms(lastEdit!.text)
  if (words.length > 0) {
    set.push("terms = terms + ?")
    values.push(words)
  }
  if (lastEdit !== undefined) {
    set.push("edited_at = ?")
    values.push(new Date(lastEdit.createdAt))
  }
  if (deleted !== undefined) {
    set.push("deleted_by = ?")
    values.push(uuid(deleted.userId))
  }
  return {
    query: `UPDATE room_messages SET ${set.join(", ")} WHERE room_id = ? AND bucket = ? AND msg_id = ?${alone ? " IF EXISTS" : ""}`,
    params: [...values, uuid(roomId), new Date(bucket), uuid(changes[0]!.targetId!)]
  }
}

export const roomEdits = (db: CassandraClient["Service"]) => {
  /** The partition holding `msgId`: the greatest one starting at or before its time, as pagination finds it. */
  const partitionOf = (operation: string, roomId: RoomId, msgId: MessageId) =>
    db
      .execute(operation, "SELECT bucket FROM room_buckets WHERE room_id = ? AND bucket <= ? LIMIT 1", [
        uuid(roomId),
        new Date(timeUuidMs(msgId))
      ])
      .pipe(
        Effect.map((rs) => Option.map(Option.fromNullishOr(rs.first()), (row) => (row.get("bucket") as Date).getTime()))
      )

  const find = Effect.fn("Messages.find")(function* (roomId: RoomId, msgId: MessageId) {
    const bucket = yield* partitionOf("messages.find.partition", roomId, msgId)
    if (Option.isNone(bucket)) return Option.none<MessageRecord>()
    const rs: cassandra.types.ResultSet = yield* db.execute(
      "messages.find",
      `SELECT ${rowColumns} FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id = ?`,
      [uuid(roomId), new Date(bucket.value), uuid(msgId)]
    )
    const row = rs.first()
    // A row of statics only (a poisoned partition) has no seq.
    if (row === null || row.get("seq") === null) return Option.none<MessageRecord>()
    return Option.some({ ...toMessage(roomId, row), partition: bucket.value })
  })

  /**
   * Changes to targets in partitions other than the commit's, one LWT per target on its
   * partition, written after the commit (so a refused batch changes nothing) and past the
   * circuit breaker like everything that completes a commit. A target's partition is the
   * `targetPartition` its caller found it in, else looked up (a claim's repair, or a target
   * the actor held without one).
   */
  const applyElsewhere = (roomId: RoomId, changes: ReadonlyArray<MessageRecord>) =>
    Effect.forEach(
      byTarget(changes),
      (group) =>
        Effect.gen(function* () {
          const known = group.find((c) => c.targetPartition !== undefined)?.targetPartition
          const bucket =
            known !== undefined
              ? Option.some(known)
              : yield* partitionOf("messages.append.target.partition", roomId, group[0]!.targetId!)
          if (Option.isNone(bucket)) return
          const { query, params } = targetUpdate(roomId, bucket.value, group, true)
          yield* db.executeUnguarded("messages.append.target", query, params)
        }),
      { concurrency: "unbounded", discard: true }
    )

  return { find, applyElsewhere }
}
