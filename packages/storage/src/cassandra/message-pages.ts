import { compareTimeUuid, type MessageId, type RoomId, timeUuidMs } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Effect } from "effect"
import type { StorageError } from "../errors.ts"
import type { MessageRecord } from "../messages.ts"
import { matchesAll } from "../search-terms.ts"
import { type CassandraClient, uuid } from "./client.ts"
import { allRows, epochMs, rowColumns, termsChunk, toMessage } from "./message-rows.ts"

/** Bucket-index rows fetched per read: a page usually needs one or two windows. */
const bucketsPerRead = 8

/** Search chunks read side by side at most (each at most `termsChunk` rows). */
const chunkReadsAtOnce = 8

/** One direction through a room's non-empty buckets (`room_buckets`), never an empty window. */
interface Walk {
  /** The next bucket starts in walk order after `last`, or the first ones when null. */
  readonly buckets: (last: number | null) => Effect.Effect<ReadonlyArray<number>, StorageError>
  /** Up to `limit` of one bucket's messages past the cursor, in walk order. */
  readonly read: (bucket: number, limit: number) => Effect.Effect<ReadonlyArray<MessageRecord>, StorageError>
}

const collect = Effect.fnUntraced(function* (walk: Walk, limit: number) {
  const messages: Array<MessageRecord> = []
  let last: number | null = null
  while (messages.length < limit) {
    const buckets: ReadonlyArray<number> = yield* walk.buckets(last)
    for (const bucket of buckets) {
      messages.push(...(yield* walk.read(bucket, limit - messages.length)))
      if (messages.length >= limit) break
    }
    // A short read of the index means the walk reached the room's first (or last) bucket.
    if (buckets.length < bucketsPerRead) break
    last = buckets.at(-1)!
  }
  return messages
})

/** `column op ?`, or no restriction when null. */
type Bound<A> = readonly ["<" | "<=" | ">" | ">=", A] | null

/**
 * `listBefore` and `listAfter` on the bucketed history. The cursor's condition is applied
 * in every bucket, not only the first: it costs nothing and stays right even where windows
 * of an old and a new size overlap.
 */
export const messagePages = (db: CassandraClient["Service"]) => {
  const bucketStarts = (operation: string, roomId: RoomId, bound: Bound<number>, ascending: boolean, limit: number) =>
    db
      .execute(
        `${operation}.buckets`,
        `SELECT bucket FROM room_buckets WHERE room_id = ?${bound ? ` AND bucket ${bound[0]} ?` : ""}${ascending ? " ORDER BY bucket ASC" : ""} LIMIT ?`,
        [uuid(roomId), ...(bound ? [new Date(bound[1])] : []), limit]
      )
      .pipe(Effect.map((rs) => rs.rows.map((row) => epochMs(row, "bucket"))))

  const messagesIn = (
    operation: string,
    roomId: RoomId,
    bucket: number,
    cursor: Bound<MessageId>,
    ascending: boolean,
    limit: number
  ) =>
    db
      .execute(
        operation,
        `SELECT ${rowColumns} FROM room_messages WHERE room_id = ? AND bucket = ?${cursor ? ` AND msg_id ${cursor[0]} ?` : ""}${ascending ? " ORDER BY msg_id ASC" : ""} LIMIT ?`,
        [uuid(roomId), new Date(bucket), ...(cursor ? [uuid(cursor[1])] : []), limit]
      )
      // A partition with a head but no message (a poisoned successor, see room-claim.ts) reads
      // as one row of nulls.
      .pipe(
        Effect.map((rs) => rs.rows.filter((row) => row.get("msg_id") !== null).map((row) => toMessage(roomId, row)))
      )

  /** The partitions from the one holding `before` (or the newest) back to the room's first. */
  const backFrom = (op: string, roomId: RoomId, before: MessageId | null) => (last: number | null) =>
    bucketStarts(
      op,
      roomId,
      last !== null ? ["<", last] : before !== null ? ["<=", timeUuidMs(before)] : null,
      false,
      bucketsPerRead
    )

  const listBefore = (roomId: RoomId, options: { readonly before: MessageId | null; readonly limit: number }) => {
    const { before, limit } = options
    const op = "messages.listBefore"
    return collect(
      {
        buckets: backFrom(op, roomId, before),
        read: (bucket, n) => messagesIn(op, roomId, bucket, before === null ? null : ["<", before], false, n)
      },
      limit
    )
  }

  /**
   * Up to `limit` of one partition's messages below `before`, newest first, whose current text
   * holds every one of `terms` (`cql/013_search_per_batch.cql`): the index on `terms` finds the
   * rows ending a matching chunk (or standing alone), each chunk's rows are read as one range,
   * and each message is checked against its text. The first partition of a search (`first`)
   * may be the live one, whose newest rows may not have their words yet: those after its
   * `terms_through` are read and checked first (`cql/016_search_after_ack.cql`), before the index
   * is asked, so that a row indexed in between is found there. With a cursor, the first
   * partition's chunk holding the cursor is read next: it ends at or after the cursor, where the
   * index read below the cursor does not look.
   */
  const matchesIn = Effect.fnUntraced(function* (
    roomId: RoomId,
    bucket: number,
    terms: ReadonlyArray<string>,
    before: MessageId | null,
    limit: number,
    first: boolean
  ) {
    const found: Array<MessageRecord> = []
    const seen = new Set<string>()
    const keep = (rows: ReadonlyArray<cassandra.types.Row>) => {
      for (const row of rows) {
        const m = toMessage(roomId, row)
        if (seen.has(m.id) || (before !== null && compareTimeUuid(m.id, before) >= 0)) continue
        seen.add(m.id)
        if (m.kind === "message" && m.deletedBy === null && matchesAll(m.text, terms)) found.push(m)
      }
    }
    /** A found row's chunk, newest first: the row alone, or the range it ends. */
    const chunkOf = (row: cassandra.types.Row) => {
      const from = row.get("terms_from") as cassandra.types.TimeUuid | null
      return from === null
        ? Effect.succeed([row])
        : db
            .execute(
              "search.chunk",
              `SELECT ${rowColumns} FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id >= ? AND msg_id <= ?`,
              [uuid(roomId), new Date(bucket), from, row.get("msg_id")],
              { fetchSize: termsChunk + 1 }
            )
            .pipe(Effect.map((rs) => rs.rows))
    }
    if (first) keep(yield* unindexed(roomId, bucket, before))
    if (first && before !== null) {
      const rs: cassandra.types.ResultSet = yield* db.execute(
        "search.straddle",
        "SELECT msg_id, terms_from, terms FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id >= ? ORDER BY msg_id ASC LIMIT ?",
        [uuid(roomId), new Date(bucket), uuid(before), termsChunk]
      )
      const end = rs.rows.find((row) => row.get("terms_from") !== null)
      const from = end?.get("terms_from") as cassandra.types.TimeUuid | undefined
      const words = new Set<string>((end?.get("terms") as ReadonlyArray<string> | null | undefined) ?? [])
      if (from !== undefined && compareTimeUuid(from.toString(), before) < 0 && terms.every((t) => words.has(t))) {
        keep(yield* chunkOf(end!))
      }
    }
    let below = before
    while (found.length < limit) {
      const wanted = limit - found.length
      let rows = 0
      let last: MessageId | undefined
      let pageState: string | undefined
      do {
        const rs: cassandra.types.ResultSet = yield* db.execute(
          "search.messages",
          `SELECT ${rowColumns}, terms_from FROM room_messages WHERE room_id = ? AND bucket = ?${" AND terms CONTAINS ?".repeat(terms.length)}${below === null ? "" : " AND msg_id < ?"} LIMIT ?`,
          [uuid(roomId), new Date(bucket), ...terms, ...(below === null ? [] : [uuid(below)]), wanted],
          { fetchSize: wanted, ...(pageState === undefined ? {} : { pageState }) }
        )
        // A row of statics only (a poisoned partition) has no message.
        const ends = rs.rows.filter((row) => row.get("msg_id") !== null)
        // Chunks are read in waves of 1, 2, 4, ... side by side and kept in order: a page that
        // the first chunk fills reads one, a query whose words share chunks but rarely a
        // message (most chunks found hold no result) does not wait for each read in turn.
        for (
          let i = 0, wave = 1;
          i < ends.length && found.length < limit;
          wave = Math.min(wave * 2, chunkReadsAtOnce)
        ) {
          const reading = ends.slice(i, i + wave)
          const chunks = yield* Effect.forEach(reading, chunkOf, { concurrency: reading.length })
          for (let k = 0; k < reading.length && found.length < limit; k++, i++) {
            last = reading[k]!.get("msg_id").toString() as MessageId
            keep(chunks[k]!)
          }
        }
        rows += rs.rows.length
        pageState = rs.pageState ?? undefined
      } while (pageState !== undefined && found.length < limit)
      if (rows < wanted || last === undefined) break
      below = last
    }
    return found.slice(0, limit)
  })

  /** A partition's rows after its `terms_through` (below `before`), newest first: none before 016. */
  const unindexed = Effect.fnUntraced(function* (roomId: RoomId, bucket: number, before: MessageId | null) {
    const keys = [uuid(roomId), new Date(bucket)]
    const head = (yield* db.execute(
      "search.unindexed",
      "SELECT terms_through, msg_id FROM room_messages WHERE room_id = ? AND bucket = ? LIMIT 1",
      keys
    )).first()
    const through = head?.get("terms_through") as cassandra.types.TimeUuid | null | undefined
    const newest = head?.get("msg_id") as cassandra.types.TimeUuid | null | undefined
    if (through == null || newest == null || compareTimeUuid(newest.toString(), through.toString()) <= 0) return []
    return yield* allRows(
      db,
      "search.unindexed",
      `SELECT ${rowColumns} FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id > ?${before === null ? "" : " AND msg_id < ?"}`,
      [...keys, through, ...(before === null ? [] : [uuid(before)])]
    )
  })

  /** `listBefore` of the messages holding every one of `terms` (search). */
  const matchingBefore = (
    roomId: RoomId,
    terms: ReadonlyArray<string>,
    options: { readonly before: MessageId | null; readonly limit: number }
  ) => {
    // Only the partition holding the cursor can hold the chunk around it: the first one read.
    let first = true
    return collect(
      {
        buckets: backFrom("search", roomId, options.before),
        read: (bucket, n) => {
          const straddle = first
          first = false
          return matchesIn(roomId, bucket, terms, options.before, n, straddle)
        }
      },
      options.limit
    )
  }

  const listAfter = Effect.fnUntraced(function* (
    roomId: RoomId,
    options: { readonly after: MessageId | null; readonly limit: number }
  ) {
    const { after, limit } = options
    const op = "messages.listAfter"
    // The window holding the cursor is the one with the greatest start at or before its time.
    const start = after === null ? undefined : (yield* bucketStarts(op, roomId, ["<=", timeUuidMs(after)], false, 1))[0]
    return yield* collect(
      {
        buckets: (last) =>
          bucketStarts(
            op,
            roomId,
            last !== null ? [">", last] : start !== undefined ? [">=", start] : null,
            true,
            bucketsPerRead
          ),
        read: (bucket, n) => messagesIn(op, roomId, bucket, after === null ? null : [">", after], true, n)
      },
      limit
    )
  })

  return { listBefore, listAfter, matchingBefore }
}
