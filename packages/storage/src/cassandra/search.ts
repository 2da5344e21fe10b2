/**
 * Message search on Cassandra's term index (`search-index.ts`, `cql/008_search.cql`), room by
 * room, never scanning a partition: a room's days come from `room_search_periods`, newest
 * first from the cursor's; in each day the query's words are intersected newest first by a
 * leapfrog join over their `room_search_terms` rows (each word's stream seeks to the id the
 * others agree on, reading `msg_id <= ?` pages, so a rare word skips the common one's rows).
 * Every hit is then read from `room_messages` (its partition found in `room_buckets`) and
 * kept only if it is a message, not deleted, and its CURRENT text holds every word: entries
 * left by an edit's old text or by a deleted message are never returned.
 */
import { compareTimeUuid, type MessageId, type RoomId, timeUuidMs } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Effect, Layer } from "effect"
import type { StorageError } from "../errors.ts"
import type { MessageRecord } from "../messages.ts"
import { MessageSearch } from "../search.ts"
import { matchesAll } from "../search-terms.ts"
import { CassandraClient, uuid } from "./client.ts"
import { epochMs, rowColumns, toMessage } from "./message-rows.ts"
import { termShard } from "./search-index.ts"

/** Ids read per page of a word's stream. */
const streamPage = 128
/** Days read per page of a room's `room_search_periods`. */
const periodsPerRead = 8
/** Partition starts read per page of `room_buckets` when locating hits (usually one or two). */
const bucketsPerRead = 8
/** Rooms searched side by side. */
const roomConcurrency = 8

/** Ids at or below `id` (`inclusive`), or below it; null: no bound. */
type Bound = { readonly id: MessageId; readonly inclusive: boolean } | null

const above = (id: MessageId, bound: Bound) =>
  bound !== null && (bound.inclusive ? compareTimeUuid(id, bound.id) > 0 : compareTimeUuid(id, bound.id) >= 0)

export const CassandraSearch = Layer.effect(
  MessageSearch,
  Effect.gen(function* () {
    const db = yield* CassandraClient

    /** One word's ids in one day, newest first, as a seekable stream. */
    const stream = (roomId: RoomId, period: number, term: string) => {
      let buffer: Array<MessageId> = []
      let exhausted = false
      /** The newest id within `bound`, or null when none is left. */
      const seek = (bound: Bound): Effect.Effect<MessageId | null, StorageError> => {
        while (buffer.length > 0 && above(buffer[0]!, bound)) buffer.shift()
        if (buffer.length > 0) return Effect.succeed(buffer[0]!)
        if (exhausted) return Effect.succeed(null)
        return db
          .execute(
            "search.terms",
            `SELECT msg_id FROM room_search_terms WHERE room_id = ? AND period = ? AND shard = ? AND term = ?${bound === null ? "" : ` AND msg_id ${bound.inclusive ? "<=" : "<"} ?`} LIMIT ?`,
            [
              uuid(roomId),
              new Date(period),
              termShard(term),
              term,
              ...(bound === null ? [] : [uuid(bound.id)]),
              streamPage
            ]
          )
          .pipe(
            Effect.map((rs) => {
              buffer = rs.rows.map((row) => row.get("msg_id").toString() as MessageId)
              exhausted = buffer.length < streamPage
              return buffer[0] ?? null
            })
          )
      }
      return seek
    }

    /** Up to `wanted` ids in every word's stream of one day, newest first, below `upper`; `done` when no more are. */
    const intersect = Effect.fnUntraced(function* (
      roomId: RoomId,
      period: number,
      terms: ReadonlyArray<string>,
      upper: Bound,
      wanted: number
    ) {
      const streams = terms.map((term) => stream(roomId, period, term))
      const found: Array<MessageId> = []
      let bound = upper
      for (;;) {
        const candidate = yield* streams[0]!(bound)
        if (candidate === null) return { found, done: true }
        let agreed = true
        for (const seek of streams.slice(1)) {
          const next: MessageId | null = yield* seek({ id: candidate, inclusive: true })
          if (next === null) return { found, done: true }
          if (next !== candidate) {
            bound = { id: next, inclusive: true }
            agreed = false
            break
          }
        }
        if (!agreed) continue
        found.push(candidate)
        bound = { id: candidate, inclusive: false }
        if (found.length >= wanted) return { found, done: false }
      }
    })

    /** The partitions (`room_buckets`) of ids, each the greatest start at or before its id's time. */
    const partitionsOf = Effect.fnUntraced(function* (roomId: RoomId, ids: ReadonlyArray<MessageId>) {
      const times = ids.map(timeUuidMs)
      const oldest = Math.min(...times)
      const starts: Array<number> = []
      let below = Math.max(...times)
      let inclusive = true
      for (;;) {
        const rs = yield* db.execute(
          "search.buckets",
          `SELECT bucket FROM room_buckets WHERE room_id = ? AND bucket ${inclusive ? "<=" : "<"} ? LIMIT ?`,
          [uuid(roomId), new Date(below), bucketsPerRead]
        )
        starts.push(...rs.rows.map((row) => epochMs(row, "bucket")))
        if (rs.rows.length < bucketsPerRead || starts.at(-1)! <= oldest) break
        below = starts.at(-1)!
        inclusive = false
      }
      const byPartition = new Map<number, Array<MessageId>>()
      for (const id of ids) {
        const start = starts.find((s) => s <= timeUuidMs(id))
        if (start !== undefined) byPartition.set(start, [...(byPartition.get(start) ?? []), id])
      }
      return byPartition
    })

    /** The hits that are messages in their current state holding every word, newest first. */
    const current = Effect.fnUntraced(function* (
      roomId: RoomId,
      ids: ReadonlyArray<MessageId>,
      terms: ReadonlyArray<string>
    ) {
      const byPartition = yield* partitionsOf(roomId, ids)
      const rows = yield* Effect.forEach(
        byPartition,
        ([bucket, some]) =>
          db.execute(
            "search.messages",
            `SELECT ${rowColumns} FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id IN ?`,
            [uuid(roomId), new Date(bucket), some.map(uuid)]
          ),
        { concurrency: "unbounded" }
      )
      return rows
        .flatMap((rs) => rs.rows)
        .filter((row: cassandra.types.Row) => row.get("msg_id") !== null)
        .map((row) => toMessage(roomId, row))
        .filter((m) => m.kind === "message" && m.deletedBy === null && matchesAll(m.text, terms))
        .sort((a, b) => compareTimeUuid(b.id, a.id))
    })

    const searchRoom = Effect.fnUntraced(function* (
      roomId: RoomId,
      terms: ReadonlyArray<string>,
      before: MessageId | null,
      limit: number
    ) {
      const results: Array<MessageRecord> = []
      const upper: Bound = before === null ? null : { id: before, inclusive: false }
      let periodBound: readonly ["<=" | "<", number] | null = before === null ? null : ["<=", timeUuidMs(before)]
      for (;;) {
        const rs = yield* db.execute(
          "search.periods",
          `SELECT period FROM room_search_periods WHERE room_id = ?${periodBound === null ? "" : ` AND period ${periodBound[0]} ?`} LIMIT ?`,
          [uuid(roomId), ...(periodBound === null ? [] : [new Date(periodBound[1])]), periodsPerRead]
        )
        const periods = rs.rows.map((row) => epochMs(row, "period"))
        for (const period of periods) {
          let bound = upper
          for (;;) {
            const wanted = limit - results.length
            const { found, done } = yield* intersect(roomId, period, terms, bound, wanted)
            if (found.length > 0) {
              results.push(...(yield* current(roomId, found, terms)))
              bound = { id: found.at(-1)!, inclusive: false }
            }
            if (results.length >= limit) return results.slice(0, limit)
            if (done) break
          }
        }
        if (periods.length < periodsPerRead) return results
        periodBound = ["<", periods.at(-1)!]
      }
    })

    return MessageSearch.of({
      search: Effect.fn("MessageSearch.search")(function* ({ rooms, terms, before, limit }) {
        if (terms.length === 0) return []
        const perRoom = yield* Effect.forEach(rooms, (roomId) => searchRoom(roomId, terms, before, limit), {
          concurrency: roomConcurrency
        })
        return perRoom
          .flat()
          .sort((a, b) => compareTimeUuid(b.id, a.id))
          .slice(0, limit)
      })
    })
  })
)
