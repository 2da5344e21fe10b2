/**
 * The term index of message search on Cassandra (`cql/008_search.cql`): for each message, one
 * `room_search_terms` row per distinct word (`search-terms.ts`), in the partition of
 * (room, the day of the message's id, a hash of the word % `searchShards`), and the room's
 * day in `room_search_periods`. The period comes from the id alone, so an edit indexes its new
 * words under its TARGET's id and day without reading anything.
 *
 * Written by the room's append beside its commit (`room-head.ts`), like the client ids: a
 * batch's rows grouped by partition into a few unlogged batches, never one write per word.
 * Entries are only ever added: those of an edit's old text or of a deleted message stay, and
 * a query re-checks every hit against the message's current row (`cassandra/search.ts`).
 */
import { type MessageId, type RoomId, timeUuidMs } from "@parley/domain"
import { Effect } from "effect"
import type { MessageRecord } from "../messages.ts"
import { messageTerms } from "../search-terms.ts"
import { type CassandraClient, uuid } from "./client.ts"

/** An index period: a day of message ids (UTC). */
export const searchPeriodMs = 86_400_000

/**
 * Partitions per room and day: a day of a busy room (100 messages a second, ~20 words each)
 * is ~20 million entries, ~2.5 million (~150 MB) per shard; a batch touches at most 8.
 */
export const searchShards = 8

export const periodOf = (id: MessageId) => Math.floor(timeUuidMs(id) / searchPeriodMs) * searchPeriodMs

/** FNV-1a of the word: stable across processes and versions. */
export const termShard = (term: string) => {
  let hash = 0x811c9dc5
  for (let i = 0; i < term.length; i++) {
    hash ^= term.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash % searchShards
}

/** What an entry of the stream adds to the index: a message its words, an edit its new words under its target. */
const indexed = (m: MessageRecord): ReadonlyArray<{ readonly id: MessageId; readonly term: string }> => {
  if (m.kind === "message" && m.deletedBy === null) return messageTerms(m.text).map((term) => ({ id: m.id, term }))
  if (m.kind === "edit" && m.targetId !== null) {
    const target = m.targetId
    return messageTerms(m.text).map((term) => ({ id: target, term }))
  }
  return []
}

/** An entry's size in a batch beside its word (keys, id, per-cell overhead), rounded up. */
const entryBytes = 100
/** Entries per unlogged batch stay under this, well inside Cassandra's 50 KiB default limit. */
const batchBytes = 32 * 1024

/** Periods this process has written for a room, so a busy room's appends do not rewrite its day each time. */
const periodsKept = 10_000

export const searchIndexWriter = (db: CassandraClient["Service"]) => {
  const written = new Set<string>()
  const remember = (key: string) => {
    written.add(key)
    if (written.size > periodsKept) written.delete(written.values().next().value!)
  }

  /**
   * Indexes a batch of one room's stream (messages, edits; deletes add nothing). Idempotent,
   * so the claim's repair of a room's newest batch may write it again.
   */
  return (roomId: RoomId, records: ReadonlyArray<MessageRecord>) => {
    const room = uuid(roomId)
    const partitions = new Map<string, { period: number; shard: number; terms: Array<[MessageId, string]> }>()
    for (const { id, term } of records.flatMap(indexed)) {
      const period = periodOf(id)
      const shard = termShard(term)
      const key = `${period}/${shard}`
      const partition = partitions.get(key) ?? { period, shard, terms: [] }
      partition.terms.push([id, term])
      partitions.set(key, partition)
    }
    const batches: Array<Array<{ readonly query: string; readonly params: ReadonlyArray<unknown> }>> = []
    for (const { period, shard, terms } of partitions.values()) {
      let bytes = Number.POSITIVE_INFINITY
      for (const [id, term] of terms) {
        const cost = Buffer.byteLength(term) + entryBytes
        if (bytes + cost > batchBytes) {
          batches.push([])
          bytes = 0
        }
        bytes += cost
        batches.at(-1)!.push({
          query: "INSERT INTO room_search_terms (room_id, period, shard, term, msg_id) VALUES (?, ?, ?, ?, ?)",
          params: [room, new Date(period), shard, term, uuid(id)]
        })
      }
    }
    const periods = [...new Set([...partitions.values()].map((p) => p.period))].filter(
      (period) => !written.has(`${roomId}/${period}`)
    )
    const writePeriods =
      periods.length === 0
        ? Effect.void
        : db
            .batchUnguarded(
              "messages.append.searchPeriods",
              periods.map((period) => ({
                query: "INSERT INTO room_search_periods (room_id, period) VALUES (?, ?)",
                params: [room, new Date(period)]
              })),
              { logged: false }
            )
            .pipe(
              Effect.tap(() =>
                Effect.sync(() => {
                  for (const period of periods) remember(`${roomId}/${period}`)
                })
              )
            )
    return Effect.all(
      [
        writePeriods,
        Effect.forEach(
          batches,
          (entries) => db.batchUnguarded("messages.append.searchTerms", entries, { logged: false }),
          { concurrency: "unbounded", discard: true }
        )
      ],
      { concurrency: 2, discard: true }
    )
  }
}
