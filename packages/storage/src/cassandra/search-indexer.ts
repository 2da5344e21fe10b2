/**
 * Search words written after the ack (`cql/016_search_after_ack.cql`): a plain commit stores its
 * rows without their words, and this writes them a moment later, for every row committed
 * meanwhile at once, as `cql/013_search_per_batch.cql` chunks ending on their last rows. The
 * partition's `terms_through` names the newest row whose words are written, in the same
 * single-partition batch; search reads the rows after it directly (`message-pages.ts`), so a
 * message is findable as soon as it is stored, and a claim writes the words its predecessor
 * left unwritten (`reindexTail`).
 *
 * A write goes out under the owner's lease as a plain batch stamped like a commit, below the
 * lease's end, so a claim elsewhere (which waits the lease out) writes above it; without a
 * lease it is a conditional batch fenced by the owner's epoch. A deposed owner's rows are
 * dropped: its successor's claim writes their words.
 */
import type { MessageId, RoomId } from "@parley/domain"
import { compareTimeUuid } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Effect, Semaphore } from "effect"
import type { StorageError } from "../errors.ts"
import type { MessageRecord } from "../messages.ts"
import { type CassandraClient, uuid } from "./client.ts"
import { allRows, rowColumns, searchChunks, termsChunk, toMessage } from "./message-rows.ts"
import type { HeadStore, Statement } from "./room-head-store.ts"
import { wallSleep, writeTimestamp } from "./room-lease.ts"

/**
 * How long committed rows wait for the rows after them: one write then indexes every row of the
 * window, and a chat's words repeat, so the index adds a word once per window instead of once per
 * commit (the index is most of what a node spends on a message's words).
 */
export const searchLingerMs = 50

/** Between attempts of a write that failed (the node unreachable, say). */
const retrySpacingMs = 1000

/** Rows per batch: two full chunks, so that a claim's write after a long outage is a series of small ones. */
const rowsPerWrite = 2 * termsChunk

/** A plain write needs this much of the lease left, for the time it may take to be sent. */
const leaseMarginMs = 50

/**
 * The updates giving consecutive rows of one partition their words: chunks of at most
 * `termsChunk` rows, each ending on its last row, which holds the chunk's distinct words in
 * `terms` (added to: an edit may have put words there) and its first `msg_id` in `terms_from`
 * (none for a chunk of one). `clear`: every other row's `terms_from` is cleared too, so a late
 * write of a deposed owner can leave no chunk overlapping these.
 */
export const chunkUpdates = (
  roomId: RoomId,
  bucket: number,
  rows: ReadonlyArray<MessageRecord>,
  clear: boolean
): Array<Statement> => {
  const keys = [uuid(roomId), new Date(bucket)]
  const updates: Array<Statement> = []
  for (const { first, last, words } of searchChunks(rows)) {
    if (clear) {
      for (let i = first; i < last; i++) {
        updates.push({
          query: "UPDATE room_messages SET terms_from = null WHERE room_id = ? AND bucket = ? AND msg_id = ?",
          params: [...keys, uuid(rows[i]!.id)]
        })
      }
    }
    if (words.length === 0 && !clear) continue
    const from = first === last ? null : uuid(rows[first]!.id)
    updates.push({
      query: `UPDATE room_messages SET ${words.length === 0 ? "" : "terms = terms + ?, "}terms_from = ? WHERE room_id = ? AND bucket = ? AND msg_id = ?`,
      params: [
        ...(words.length === 0 ? [] : [words]),
        from === null ? (clear ? null : cassandra.types.unset) : from,
        ...keys,
        uuid(rows[last]!.id)
      ]
    })
  }
  return updates
}

const throughUpdate = (roomId: RoomId, bucket: number, last: MessageId, fencedBy?: number): Statement => ({
  query: `UPDATE room_messages SET terms_through = ? WHERE room_id = ? AND bucket = ?${fencedBy === undefined ? "" : " IF epoch = ?"}`,
  params: [uuid(last), uuid(roomId), new Date(bucket), ...(fencedBy === undefined ? [] : [fencedBy])]
})

interface Waiting {
  readonly epoch: number
  readonly bucket: number
  readonly rows: Array<MessageRecord>
}

export type SearchIndexer = ReturnType<typeof searchIndexer>

export const searchIndexer = (
  db: CassandraClient["Service"],
  store: Pick<HeadStore, "lives">,
  run: (effect: Effect.Effect<void>) => unknown,
  lingerMs = searchLingerMs
) => {
  const waiting = new Map<RoomId, Waiting>()
  /** One write at a time per room, so `terms_through` only moves forward. */
  const locks = new Map<RoomId, { readonly lock: Semaphore.Semaphore; users: number }>()
  const scheduled = new Set<RoomId>()

  /** The words of `rows` and the partition's `terms_through` past them, in one batch. */
  const write = (roomId: RoomId, epoch: number, bucket: number, rows: ReadonlyArray<MessageRecord>) =>
    Effect.suspend((): Effect.Effect<"written" | "deposed", StorageError> => {
      const known = store.lives.get(roomId)
      if (known !== undefined && known.epoch !== epoch) return Effect.succeed("deposed")
      const updates = chunkUpdates(roomId, bucket, rows, false)
      const last = rows.at(-1)!.id
      if (
        known !== undefined &&
        !known.where.root &&
        known.where.bucket === bucket &&
        Date.now() + leaseMarginMs < known.leaseUntil
      ) {
        // Not above the head's newest LWT when unknown (after a renewing commit): no cell here is
        // one a commit writes, but `terms_through` of a partition's first commit, which a write
        // landing below it leaves behind, so that search reads a few rows more, harmlessly.
        const timestamp = writeTimestamp(known.floor ?? 0)
        if (timestamp < known.leaseUntil * 1000) {
          return db
            .batchUnguarded("search.index", [...updates, throughUpdate(roomId, bucket, last)], {
              logged: false,
              timestamp
            })
            .pipe(Effect.as("written" as const))
        }
      }
      return db
        .batchUnguarded("search.index", [throughUpdate(roomId, bucket, last, epoch), ...updates])
        .pipe(Effect.map((rs) => (rs.wasApplied() ? ("written" as const) : ("deposed" as const))))
    })

  /**
   * Runs `effect` holding the room's lock, made on first use and dropped once nobody holds or
   * waits for it (looked up when run, not when built: a background write is built a window early).
   */
  const locked = <A, E>(roomId: RoomId, effect: Effect.Effect<A, E>) =>
    Effect.suspend(() => {
      let entry = locks.get(roomId)
      if (entry === undefined) {
        entry = { lock: Semaphore.makeUnsafe(1), users: 0 }
        locks.set(roomId, entry)
      }
      const held = entry
      held.users++
      return Semaphore.withPermit(held.lock, effect).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            if (--held.users === 0 && locks.get(roomId) === held) locks.delete(roomId)
          })
        )
      )
    })

  /** Rows not written after a failure wait again, before any added meanwhile. */
  const putBack = (roomId: RoomId, batch: Waiting) => {
    const later = waiting.get(roomId)
    if (later === undefined) waiting.set(roomId, batch)
    else if (later.epoch === batch.epoch && later.bucket === batch.bucket) {
      waiting.set(roomId, { ...batch, rows: [...batch.rows, ...later.rows] })
    }
  }

  /** Writes what waits for `roomId`, after any write already under way, a few chunks per batch. */
  const flush = (roomId: RoomId): Effect.Effect<void, StorageError> =>
    locked(
      roomId,
      Effect.gen(function* () {
        const batch = waiting.get(roomId)
        if (batch === undefined) return
        waiting.delete(roomId)
        const { epoch, bucket, rows } = batch
        for (let from = 0; from < rows.length; from += rowsPerWrite) {
          const outcome = yield* write(roomId, epoch, bucket, rows.slice(from, from + rowsPerWrite)).pipe(
            // Failed, a defect or interrupted (the process stopping): the rest waits again.
            Effect.onError(() => Effect.sync(() => putBack(roomId, { epoch, bucket, rows: rows.slice(from) })))
          )
          if (outcome === "deposed") return
        }
      })
    )

  /** In the background: a window's wait, then the write, again while rows wait (spaced after a failure). */
  const schedule = (roomId: RoomId) => {
    if (scheduled.has(roomId)) return
    scheduled.add(roomId)
    run(
      wallSleep(lingerMs).pipe(
        Effect.andThen(flush(roomId)),
        Effect.catchCause((cause) =>
          Effect.logWarning("search words not written yet; retrying", cause).pipe(
            Effect.andThen(wallSleep(retrySpacingMs))
          )
        ),
        Effect.ensuring(
          Effect.sync(() => {
            scheduled.delete(roomId)
            if (waiting.has(roomId)) schedule(roomId)
          })
        )
      )
    )
  }

  return {
    /** Rows a plain commit stored without their words (consecutive, after those added before). */
    add: (roomId: RoomId, epoch: number, bucket: number, rows: ReadonlyArray<MessageRecord>) => {
      const before = waiting.get(roomId)
      // Rows of an earlier claim or partition are written by then, or by the claim that replaced it.
      if (before !== undefined && before.epoch === epoch && before.bucket === bucket) before.rows.push(...rows)
      else waiting.set(roomId, { epoch, bucket, rows: [...rows] })
      schedule(roomId)
    },
    /** Before a partition is sealed: its words written, so that only a live partition has rows without. */
    flush,
    /**
     * When the process stops: every room's waiting words, so that the next owner has nothing
     * to write (it would, after a crash). What fails is left to that owner.
     */
    flushAll: Effect.suspend(() =>
      Effect.forEach([...waiting.keys()], (roomId) => Effect.catchCause(flush(roomId), () => Effect.void), {
        concurrency: 8,
        discard: true
      })
    ),
    /** After a claim: its rows are the claim's to write (`reindexTail`), not an earlier owner's here. */
    claimed: (roomId: RoomId, epoch: number) => {
      const before = waiting.get(roomId)
      if (before !== undefined && before.epoch !== epoch) waiting.delete(roomId)
    }
  }
}

/**
 * A claim's share: the words of the rows after `terms_through` up to the head it took over,
 * which the previous owner committed but had not indexed (it died, or was deposed), written with
 * the claim's timestamp (above every write of that owner), every other row's `terms_from`
 * cleared. Nothing when the partition indexes in its commits (no `terms_through`, before 016).
 */
export const reindexTail = Effect.fnUntraced(function* (
  db: CassandraClient["Service"],
  roomId: RoomId,
  bucket: number,
  through: string | null,
  lastId: string | null,
  timestamp: number
) {
  if (through === null || lastId === null || compareTimeUuid(lastId, through) <= 0) return
  const read = yield* allRows(
    db,
    "messages.claim.reindex",
    `SELECT terms_through, ${rowColumns} FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id > ? AND msg_id <= ? ORDER BY msg_id ASC`,
    [uuid(roomId), new Date(bucket), uuid(through as MessageId), uuid(lastId as MessageId)]
  )
  // As it stands after the take-over (every row carries the partition's statics): a conditional
  // write of the previous owner may have moved it since the head was read. Its chunks are left
  // alone, whatever their timestamp (the coordinator's clock), so none overlaps the claim's.
  const fresh = read[0]?.get("terms_through")?.toString() as string | undefined
  const rows = read
    .map((row) => toMessage(roomId, row))
    .filter((m) => fresh === undefined || compareTimeUuid(m.id, fresh) > 0)
  for (let from = 0; from < rows.length; from += rowsPerWrite) {
    const some = rows.slice(from, from + rowsPerWrite)
    yield* db.batchUnguarded(
      "messages.claim.reindex",
      [...chunkUpdates(roomId, bucket, some, true), throughUpdate(roomId, bucket, some.at(-1)!.id)],
      { logged: false, timestamp }
    )
  }
})
