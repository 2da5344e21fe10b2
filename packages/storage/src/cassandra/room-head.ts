/**
 * A room's head on Cassandra and the append it fences (see `cql/005_head_in_partition.cql` and
 * `cql/014_room_lease.cql`).
 *
 * The head (owner epoch, newest `seq` and id) lives in STATIC columns of the room's newest
 * `room_messages` partition, so a group commit is ONE single-partition batch: the head's move
 * and the message rows, applied together or not at all. No batchlog, no second write the commit
 * depends on. The owner's epoch is fenced by Paxos only when it changes hands (a claim, a
 * rollover) and once per half lease: in between, the owner holds a LEASE and commits with plain
 * writes, acknowledged only if Cassandra answered within the lease. A busy room renews the lease
 * by an LWT of its own; a quiet one with its next commit, as one conditional batch. A claim from
 * another process waits the lease out, then shadows anything the deposed owner's late writes
 * could add (a range tombstone above the head it read, timestamped above them).
 *
 * Partitions form a chain: `room_heads` (the root, where every room starts and where heads
 * written before this version live) names the room's first partition in `next_bucket`, each
 * partition names its successor the same way, and the end of the chain (`next_bucket` null)
 * holds the live head. Moving on to a new partition (a new time window, or a full one) is a
 * "rollover": seal the live head by an LWT that names the successor (`IF epoch AND last_seq
 * AND next_bucket = null`: only the owner can), then initialise the successor with the batch
 * (`IF epoch = null`), then add it to `room_buckets`. A claim walks the chain to its end and
 * bumps the epoch there; if it finds a seal whose successor was never initialised (the writer
 * died in between), it poisons the successor (its epoch set, no head), so that writer's late
 * initialisation is refused, and reopens the sealed head under its new epoch.
 *
 * What search finds a message by (the words of each chunk of rows, on the chunk's last row,
 * `cql/013_search_per_batch.cql`) follows a plain commit about 50 ms later, for every row
 * committed meanwhile (`search-indexer.ts`, `cql/016_search_after_ack.cql`); search reads the
 * rows not indexed yet directly, so a stored message is findable at once. The commit writes
 * what a retry finds its original by: the keys are in the rows, and the commit that fills a chunk
 * of 1024 rows stores the chunk's key prints in the head's statics, in the same write (a
 * partition's last chunk is closed by a plain write of its own before its seal) (`cql/015_keys_in_rows.cql`, `key-chunks.ts`). A crash after the
 * commit can leave a new partition without its `room_buckets` row: the partition's `batch_from`
 * names the newest batch until the next claim, which rewrites the row and hands the batch back as
 * `repaired` (its new owner broadcasts it again).
 *
 * This file is the append; the head's reads and what this process knows of the heads it claimed
 * are in `room-head-store.ts`, the lease in `room-lease.ts`, the claim in `room-claim.ts`.
 */
import type { RoomId } from "@parley/domain"
import { timeUuidMs } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Effect } from "effect"
import { StorageError } from "../errors.ts"
import type { Fence, MessageRecord } from "../messages.ts"
import { type CassandraClient, isUnknownOutcome, uuid } from "./client.ts"
import { byTarget, foldBatch, roomEdits, targetUpdate } from "./edits.ts"
import { type Chunk, encodeChunk, type RoomKeys } from "./key-chunks.ts"
import { chunkSearchValues, rowColumns, rowValues } from "./message-rows.ts"
import { roomClaim } from "./room-claim.ts"
import { headStore, type Live, long, part, type Statement, type Where } from "./room-head-store.ts"
import { defaultLease, type LeaseOptions, roomLease, writeTimestamp } from "./room-lease.ts"
import type { SearchIndexer } from "./search-indexer.ts"

export { defaultLease, type LeaseOptions } from "./room-lease.ts"

/** A partition takes at most this many messages before the next batch opens a new one. */
export const maxPartitionMessages = 100_000

/** The retry keys of a claim (`key-index.ts`), which its appends keep up to date. */
export type KeysOfClaim = (roomId: RoomId, epoch: number) => Effect.Effect<RoomKeys, StorageError>

const noKeys: KeysOfClaim = () =>
  Effect.fail(
    new StorageError({ operation: "messages.append", cause: new Error("no retry keys: appends go through Messages") })
  )

/** Chunks closed by a write, as `key_chunks[?] = ?` assignments (`list`; `set`: to follow others). */
const chunkCell = (chunks: ReadonlyArray<Chunk>) => {
  const list = chunks.map(() => "key_chunks[?] = ?").join(", ")
  return {
    list,
    set: list === "" ? "" : `, ${list}`,
    params: chunks.flatMap((chunk) => [cassandra.types.Long.fromNumber(chunk.firstSeq), encodeChunk(chunk)])
  }
}

export const roomHead = (
  db: CassandraClient["Service"],
  bucketMs: number,
  leases: LeaseOptions = defaultLease,
  keysOf: KeysOfClaim = noKeys,
  indexer?: SearchIndexer
) => {
  const edits = roomEdits(db)
  const store = headStore(db)
  const { conditional, headMoved, lives, locate, lwtWritten, refusal, remember, settle, writeIndex } = store
  const { acknowledgeable, deposedHere, leased, mayRenewInCommit, sendable } = roomLease(db, leases, store)
  const { claim, release } = roomClaim(db, leases, store, edits, indexer)

  /**
   * A group commit's row inserts; with `words`, its chunks' search words on their last rows
   * (`cql/013_search_per_batch.cql`), else written after the ack (`search-indexer.ts`).
   */
  const rowInserts = (roomId: RoomId, bucket: number, records: ReadonlyArray<MessageRecord>, words: boolean) => {
    if (!words) {
      return records.map((m) => ({
        query: `INSERT INTO room_messages (room_id, bucket, ${rowColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        params: [uuid(roomId), new Date(bucket), ...rowValues(m)]
      }))
    }
    const search = chunkSearchValues(records)
    return records.map((m, i) => ({
      query: `INSERT INTO room_messages (room_id, bucket, ${rowColumns}, terms, terms_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      params: [uuid(roomId), new Date(bucket), ...rowValues(m), ...search[i]!]
    }))
  }

  /** A commit writing its rows' words names its last row in `terms_through` (`cql/016_search_after_ack.cql`). */
  const wordsCell = (words: boolean, last: MessageRecord) =>
    words ? { set: ", terms_through = ?", params: [uuid(last.id)] } : { set: "", params: [] }

  /** Whether a commit on `known`'s partition writes its words itself: not once the indexer does. */
  const wordsNow = (known: Live) => indexer === undefined || !known.wordsLater

  /**
   * The common case, under the owner's lease: the head's move, the batch and the updates of this
   * partition's messages that it edits or deletes, in one unlogged batch on the live partition,
   * no condition (`cql/014_room_lease.cql`). A timeout is settled by reading the head back; a
   * write that has not landed by then may still land, so the append fails and the actor claims,
   * which shadows it.
   */
  const commit = (
    roomId: RoomId,
    bucket: number,
    records: ReadonlyArray<MessageRecord>,
    fence: Fence,
    targets: ReadonlyArray<Statement>,
    timestamp: number,
    closing: ReadonlyArray<Chunk>,
    words: boolean
  ) => {
    const last = records.at(-1)!
    const cell = chunkCell(closing)
    const through = wordsCell(words, last)
    const write = db.batch(
      "messages.append.commit",
      [
        {
          query: `UPDATE room_messages SET last_seq = ?, last_msg_id = ?, batch_from = ?${cell.set}${through.set} WHERE room_id = ? AND bucket = ?`,
          params: [
            last.seq,
            uuid(last.id),
            records[0]!.seq,
            ...cell.params,
            ...through.params,
            uuid(roomId),
            new Date(bucket)
          ]
        },
        ...rowInserts(roomId, bucket, records, words),
        ...targets
      ],
      { logged: false, timestamp }
    )
    return write.pipe(
      Effect.asVoid,
      Effect.catchIf(
        (e): e is StorageError => e._tag === "StorageError" && isUnknownOutcome(e),
        (e) => settle(roomId, part(bucket), fence, e, headMoved(last, fence), () => true)
      )
    )
  }

  /**
   * A commit that also renews the lease (`mayRenewInCommit`): the head's move, the lease and the
   * rows in one conditional batch, fenced by Paxos like a claim (`IF epoch AND last_seq AND
   * next_bucket = null`), so it needs no lease to be acknowledged. Its writes carry the round's
   * timestamp, unknown here: the next plain commit reads it back first (`floor` null). Client-id
   * entries go beside it (a conditional batch holds one partition).
   */
  const renewingCommit = (
    roomId: RoomId,
    bucket: number,
    records: ReadonlyArray<MessageRecord>,
    fence: Fence,
    targets: ReadonlyArray<Statement>,
    leaseUntil: number,
    closing: ReadonlyArray<Chunk>,
    words: boolean
  ) => {
    const last = records.at(-1)!
    const cell = chunkCell(closing)
    const through = wordsCell(words, last)
    const write = db.batch("messages.append.commit", [
      {
        query: `UPDATE room_messages SET last_seq = ?, last_msg_id = ?, batch_from = ?, lease_until = ?${cell.set}${through.set} WHERE room_id = ? AND bucket = ? IF epoch = ? AND last_seq = ? AND next_bucket = null`,
        params: [
          last.seq,
          uuid(last.id),
          records[0]!.seq,
          new Date(leaseUntil),
          ...cell.params,
          ...through.params,
          uuid(roomId),
          new Date(bucket),
          fence.epoch,
          fence.afterSeq
        ]
      },
      ...rowInserts(roomId, bucket, records, words),
      ...targets
    ])
    return conditional(roomId, part(bucket), fence, write, headMoved(last, fence))
  }

  /** Seals the live head (root or partition) naming its successor; only its owner can. */
  const seal = (roomId: RoomId, where: Where, next: number, fence: Fence) =>
    conditional(
      roomId,
      where,
      fence,
      where.root
        ? db.execute(
            "messages.append.seal",
            "UPDATE room_heads SET next_bucket = ? WHERE room_id = ? IF epoch = ? AND last_seq = ? AND next_bucket = null",
            [new Date(next), uuid(roomId), fence.epoch, fence.afterSeq]
          )
        : db.execute(
            "messages.append.seal",
            "UPDATE room_messages SET next_bucket = ? WHERE room_id = ? AND bucket = ? IF epoch = ? AND last_seq = ? AND next_bucket = null",
            [new Date(next), uuid(roomId), new Date(where.bucket), fence.epoch, fence.afterSeq]
          ),
      (head) => head?.epoch === fence.epoch && head.next === next
    )

  /**
   * A partition's open chunk, closed before its seal by a plain write under the lease, stamped as
   * a commit is: above the head's last plain write and so above any late write of a deposed owner
   * to the same cell (the seal, an LWT on the coordinator's clock, could land below one). Its
   * outcome unknown, the append fails and the actor claims again (the claim reads the chunk if it
   * landed, the rows otherwise).
   */
  const closeChunks = Effect.fnUntraced(function* (
    roomId: RoomId,
    bucket: number,
    known: Live,
    fence: Fence,
    chunks: ReadonlyArray<Chunk>
  ) {
    const held = yield* leased(roomId, known, fence)
    const floor = held.floor ?? (yield* lwtWritten(roomId, bucket))
    const timestamp = writeTimestamp(floor)
    yield* sendable(held, timestamp)
    const cell = chunkCell(chunks)
    yield* db.execute(
      "messages.append.chunks",
      `UPDATE room_messages SET ${cell.list} WHERE room_id = ? AND bucket = ?`,
      [...cell.params, uuid(roomId), new Date(bucket)],
      { timestamp }
    )
    yield* acknowledgeable(roomId, held, fence)
    remember(roomId, { ...held, floor, lastPlain: timestamp })
  })

  /**
   * The successor's first commit: its head (our epoch) and the batch, if nobody initialised it
   * yet. A successor poisoned by a claim (an epoch, no head) is taken only by a writer whose
   * epoch is at least the poisoner's, i.e. one that sealed its predecessor after that claim.
   */
  const initialise = (
    roomId: RoomId,
    bucket: number,
    records: ReadonlyArray<MessageRecord>,
    fence: Fence,
    leaseUntil: number,
    closing: ReadonlyArray<Chunk>
  ) => {
    const last = records.at(-1)!
    const cell = chunkCell(closing)
    const attempt = (poisonedBy: number | null) =>
      db.batch("messages.append.commit", [
        {
          query: `UPDATE room_messages SET epoch = ?, lease_until = ?, last_seq = ?, last_msg_id = ?, batch_from = ?, base_seq = ?, terms_through = ?${cell.set} WHERE room_id = ? AND bucket = ? IF epoch = ${poisonedBy === null ? "null" : "?"} AND last_seq = null`,
          params: [
            fence.epoch,
            new Date(leaseUntil),
            last.seq,
            uuid(last.id),
            records[0]!.seq,
            fence.afterSeq,
            uuid(last.id),
            ...cell.params,
            uuid(roomId),
            new Date(bucket),
            ...(poisonedBy === null ? [] : [poisonedBy])
          ]
        },
        ...rowInserts(roomId, bucket, records, true)
      ])
    const applied = headMoved(last, fence)
    return attempt(null).pipe(
      Effect.flatMap((rs) => {
        if (rs.wasApplied()) return Effect.succeed(rs)
        const row = rs.first() ?? undefined
        const poisonedBy = long(row, "epoch")
        return poisonedBy !== null && long(row, "last_seq") === null && poisonedBy <= fence.epoch
          ? attempt(poisonedBy)
          : Effect.succeed(rs)
      }),
      // Still without a head: the initialisation may yet land; the actor claims before going on.
      (write) =>
        conditional(roomId, part(bucket), fence, write, applied, (head) => head === undefined || head.epoch === null)
    )
  }

  const append = Effect.fnUntraced(function* (roomId: RoomId, records: ReadonlyArray<MessageRecord>, fence: Fence) {
    let known = lives.get(roomId)
    if (known === undefined || known.epoch !== fence.epoch) {
      const { head, where } = yield* locate(roomId, "messages.append.locate")
      if (head === undefined || head.epoch !== fence.epoch || head.next !== null || head.lastSeq !== fence.afterSeq) {
        return yield* refusal(roomId, fence, head?.epoch ?? null)
      }
      known = {
        epoch: fence.epoch,
        where,
        base: head.base ?? 0,
        lastMs: head.lastId === null ? Number.NEGATIVE_INFINITY : timeUuidMs(head.lastId),
        lastSeq: head.lastSeq ?? 0,
        leaseUntil: head.leaseUntil ?? 0,
        floor: head.written ?? 0,
        lastPlain: head.written ?? 0,
        wordsLater: head.termsThrough !== null
      }
    }
    // The head's seq is no longer checked by Cassandra: this process knows it since its claim.
    if (known.lastSeq !== fence.afterSeq) return yield* refusal(roomId, fence, fence.epoch)
    const firstMs = timeUuidMs(records[0]!.id)
    const lastMs = timeUuidMs(records.at(-1)!.id)
    const where = known.where
    if (where.root && firstMs <= known.lastMs) {
      // A root's first partition must start after every message stored before it (pagination
      // finds a message's partition by its time): one millisecond later, it will.
      return yield* new StorageError({
        operation: "messages.append",
        cause: new Error("the batch starts in the millisecond of the room's newest message; retry")
      })
    }
    const rollover =
      where.root ||
      (firstMs > known.lastMs &&
        (Math.floor(firstMs / bucketMs) > Math.floor(where.bucket / bucketMs) ||
          fence.afterSeq - known.base >= maxPartitionMessages))
    // Edits and deletes: targets in the batch are changed in their inserted rows, targets in
    // the partition the batch commits to join its conditional batch, the rest follow it.
    const { rows, outside } = foldBatch(records)
    const keys = yield* keysOf(roomId, fence.epoch)
    if (!rollover) {
      keys.addRows(where.bucket, rows)
      const closing = keys.closeIfFull()
      const bucket = where.bucket
      const here = outside.filter((c) =>
        c.targetPartition !== undefined ? c.targetPartition === bucket : timeUuidMs(c.targetId!) >= bucket
      )
      const inHere = byTarget(here).map((changes) => targetUpdate(roomId, bucket, changes, false))
      const now = Date.now()
      const words = wordsNow(known)
      if (mayRenewInCommit(known, now)) {
        const leaseUntil = now + leases.lease
        yield* renewingCommit(roomId, bucket, rows, fence, inHere, leaseUntil, closing, words)
        yield* deposedHere(roomId, fence)
        remember(roomId, {
          ...known,
          lastMs,
          lastSeq: records.at(-1)!.seq,
          leaseUntil,
          floor: null,
          wordsLater: true
        })
      } else {
        const held = yield* leased(roomId, known, fence)
        const floor = held.floor ?? (yield* lwtWritten(roomId, bucket))
        const timestamp = writeTimestamp(floor)
        yield* sendable(held, timestamp)
        yield* commit(roomId, bucket, rows, fence, inHere, timestamp, closing, words)
        yield* acknowledgeable(roomId, held, fence)
        remember(roomId, {
          ...held,
          lastMs,
          lastSeq: records.at(-1)!.seq,
          floor,
          lastPlain: timestamp,
          wordsLater: true
        })
      }
      if (!words) indexer?.add(roomId, fence.epoch, bucket, rows)
      yield* edits.applyElsewhere(
        roomId,
        outside.filter((c) => !here.includes(c))
      )
      return
    }
    const next = firstMs
    // The partition's open chunk is closed before it is sealed; the batch opens the successor's.
    const closing = where.root ? [] : keys.close()
    if (!where.root && closing.length > 0) yield* closeChunks(roomId, where.bucket, known, fence, closing)
    // Only the live partition may hold rows without their words (search reads them there).
    if (!where.root && indexer !== undefined) yield* indexer.flush(roomId)
    yield* seal(roomId, where, next, fence)
    keys.addRows(next, rows)
    const leaseUntil = Date.now() + leases.lease
    yield* initialise(roomId, next, rows, fence, leaseUntil, keys.closeIfFull())
    yield* writeIndex(roomId, next)
    remember(roomId, {
      epoch: fence.epoch,
      where: part(next),
      base: fence.afterSeq,
      lastMs,
      lastSeq: records.at(-1)!.seq,
      leaseUntil,
      // Read by the next plain commit, if one comes: not on this commit's way to its ack.
      floor: null,
      lastPlain: 0,
      wordsLater: true
    })
    yield* edits.applyElsewhere(roomId, outside)
  })

  return { append, claim, release, find: edits.find }
}
