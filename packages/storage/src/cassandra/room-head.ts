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
 * The commit also writes what search finds its messages by (the words of each chunk of its rows,
 * on the chunk's last row, `cql/013_search_per_batch.cql`), so a stored message is findable.
 * Client ids (`room_client_ids`, read by `client-ids.ts`, written by `client-id-writes.ts`) go
 * beside the commit, in parallel with it (a small commit carries them in its own request).
 * Rows of a refused batch may land there: a lookup trusts an entry only once it has found its
 * message in its partition. Entries are
 * timestamped by the writer's epoch, so a refused writer's late entry never overwrites one from
 * a later owner. A crash after the commit can leave the newest batch without its client ids or
 * its partition without its `room_buckets` row: the partition's `batch_from` names that batch
 * until the next claim, which rewrites both and hands the batch back as `repaired` (its new
 * owner broadcasts it again).
 */
import { MessageId, type RoomId, timeUuidMicros, timeUuidMs, UserId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Duration, Effect, Option, Schedule, Schema } from "effect"
import { StaleWrite, StorageError } from "../errors.ts"
import { type Claim, type Fence, type MessageRecord, plainMessage } from "../messages.ts"
import { type CassandraClient, isUnknownOutcome, serialRead, uuid } from "./client.ts"
import { clientIdTimestamp, clientIdWriter, entriesInCommit } from "./client-id-writes.ts"
import { byTarget, foldBatch, roomEdits, targetUpdate } from "./edits.ts"
import {
  chunkSearchValues,
  messageColumns,
  messageValues,
  rowColumns,
  rowValues,
  termsValue,
  toMessage
} from "./message-rows.ts"

/** A committed batch as heads written before version 005 kept it (`room_heads.pending`). */
const PendingBatch = Schema.fromJsonString(
  Schema.Array(
    Schema.Struct({
      id: MessageId,
      seq: Schema.Number,
      userId: UserId,
      username: Schema.String,
      text: Schema.String,
      clientMsgId: Schema.NullOr(Schema.String),
      createdAt: Schema.Number,
      bucket: Schema.Number
    })
  )
)
type Pending = typeof PendingBatch.Type
const decodePending = Schema.decodeUnknownEffect(PendingBatch)

/** Between the settling read's attempts while the cluster does not answer. */
const settleRetrySpacingMs = 50

/** Claims retry while another writer moves the head between the read and the LWT. */
const claimAttempts = 20

/** A partition takes at most this many messages before the next batch opens a new one. */
export const maxPartitionMessages = 100_000

/** Partitions followed by one walk before it gives up (a chain longer than that is a bug). */
const maxWalk = 10_000

type Statement = { readonly query: string; readonly params: ReadonlyArray<unknown> }

const long = (row: cassandra.types.Row | undefined, column: string): number | null =>
  (row?.get(column) as cassandra.types.Long | null | undefined)?.toNumber() ?? null
const date = (row: cassandra.types.Row | undefined, column: string): number | null =>
  (row?.get(column) as Date | null | undefined)?.getTime() ?? null
const text = (row: cassandra.types.Row | undefined, column: string): string | null =>
  (row?.get(column) as { toString(): string } | null | undefined)?.toString() ?? null

/** Where a head lives: the root row (`room_heads`) or a partition of `room_messages`. */
type Where = { readonly root: true } | { readonly root: false; readonly bucket: number }
const rootHead: Where = { root: true }
const part = (bucket: number): Where => ({ root: false, bucket })

interface Head {
  readonly where: Where
  readonly epoch: number | null
  readonly lastSeq: number | null
  readonly lastId: string | null
  readonly next: number | null
  /** Partitions: the first seq of the newest batch, until a claim has settled it. */
  readonly batchFrom: number | null
  /** Partitions: the seq the partition started after. */
  readonly base: number | null
  /** The root: a batch written before 005 whose rows may be missing. */
  readonly pending: string | null
  /** Partitions: the owner's lease (wall-clock ms), `cql/014_room_lease.cql`. */
  readonly leaseUntil: number | null
  /** Partitions: WRITETIME(last_seq), µs: plain writes of the head go above it. */
  readonly written: number | null
}

/** What this process knows of a room's live head since its own claim or append. */
interface Live {
  readonly epoch: number
  readonly where: Where
  readonly base: number
  readonly lastMs: number
  readonly lastSeq: number
  /** Wall-clock ms: plain commits on `where` are sent and acknowledged only before it. */
  readonly leaseUntil: number
  /**
   * µs: the newest LWT write of the head on `where`, which plain writes must go above; null
   * after an initialisation or a renewing commit, until the next plain commit reads it (`lwtWritten`).
   */
  readonly floor: number | null
  /** µs: the timestamp of the newest plain write of the head on `where` (0: none). */
  readonly lastPlain: number
}
const liveKept = 10_000

/**
 * Per client: every `roomHead` on one client (the room actors' `Messages`, a room deletion) shares
 * what this process claimed, so a claim here deposes an earlier one here at once, without waiting
 * for its lease.
 */
const livesByClient = new WeakMap<object, Map<RoomId, Live>>()

export interface LeaseOptions {
  /** ms an owner may append with plain writes after its last LWT on the head. */
  readonly lease: number
  /** ms the nodes' clocks may differ by: another node's lease is waited out this much longer. */
  readonly skew: number
}
export const defaultLease: LeaseOptions = { lease: 1000, skew: 250 }

/**
 * Write timestamps of plain writes, µs: the wall clock, strictly rising within this process (so a
 * claim here is above every write sent here before it) and above `floor`.
 */
let lastTimestamp = 0
const writeTimestamp = (floor: number) => {
  lastTimestamp = Math.max(Date.now() * 1000, lastTimestamp + 1, floor + 1)
  return lastTimestamp
}

/**
 * Waits on the wall clock, not Effect's: a lease runs out in the time Cassandra and the other
 * nodes see, also under a test's `TestClock`.
 */
const wallSleep = (ms: number) =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })

export const roomHead = (db: CassandraClient["Service"], bucketMs: number, leases: LeaseOptions = defaultLease) => {
  const edits = roomEdits(db)
  const lives = livesByClient.get(db) ?? new Map<RoomId, Live>()
  livesByClient.set(db, lives)
  const remember = (roomId: RoomId, l: Live) => {
    lives.delete(roomId)
    lives.set(roomId, l)
    if (lives.size > liveKept) lives.delete(lives.keys().next().value!)
  }

  const headOf = (where: Where, row: cassandra.types.Row | undefined): Head | undefined =>
    row === undefined
      ? undefined
      : {
          where,
          epoch: long(row, "epoch"),
          lastSeq: long(row, "last_seq"),
          lastId: text(row, "last_msg_id"),
          next: date(row, "next_bucket"),
          batchFrom: where.root ? null : long(row, "batch_from"),
          base: where.root ? null : long(row, "base_seq"),
          pending: where.root ? ((row.get("pending") as string | null) ?? null) : null,
          leaseUntil: where.root ? null : date(row, "lease_until"),
          written: where.root ? null : long(row, "written")
        }

  const rootQuery = "SELECT epoch, last_seq, last_msg_id, next_bucket, pending FROM room_heads WHERE room_id = ?"
  const partQuery =
    "SELECT epoch, last_seq, last_msg_id, next_bucket, batch_from, base_seq, lease_until, WRITETIME(last_seq) AS written FROM room_messages WHERE room_id = ? AND bucket = ? LIMIT 1"
  const readAt = (operation: string, roomId: RoomId, where: Where, unguarded = false) => {
    const run = unguarded ? db.executeUnguarded : db.execute
    return (
      where.root
        ? run(operation, rootQuery, [uuid(roomId)], serialRead)
        : run(operation, partQuery, [uuid(roomId), new Date(where.bucket)], serialRead)
    ).pipe(Effect.map((rs) => headOf(where, rs.first() ?? undefined)))
  }

  const newestIndexed = (roomId: RoomId) =>
    db
      .execute("messages.head.index", "SELECT bucket FROM room_buckets WHERE room_id = ? LIMIT 1", [uuid(roomId)])
      .pipe(Effect.map((rs) => date(rs.first() ?? undefined, "bucket")))

  /** A group commit's row inserts, its chunks' search words on their last rows (`cql/013_search_per_batch.cql`). */
  const rowInserts = (roomId: RoomId, bucket: number, records: ReadonlyArray<MessageRecord>) => {
    const search = chunkSearchValues(records)
    return records.map((m, i) => ({
      query: `INSERT INTO room_messages (room_id, bucket, ${rowColumns}, terms, terms_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      params: [uuid(roomId), new Date(bucket), ...rowValues(m), ...search[i]!]
    }))
  }

  const writeClientIds = clientIdWriter(db)

  const writeIndex = (roomId: RoomId, bucket: number) =>
    db.executeUnguarded("messages.append.index", "INSERT INTO room_buckets (room_id, bucket) VALUES (?, ?)", [
      uuid(roomId),
      new Date(bucket)
    ])

  const refusal = (roomId: RoomId, fence: Fence, epoch: number | null) =>
    new StaleWrite({ roomId, reason: epoch === fence.epoch ? "stale head" : "deposed" })

  /**
   * A conditional write timed out, so it may or may not have applied. A SERIAL read finishes
   * any Paxos round that got as far as being accepted, so `applied(head)` is final when true.
   * The head unmoved is not final: the write may still be queued and apply later. That is safe
   * only because the append then fails and the room's actor claims again after any failed
   * append (see `Fence`): the claim deposes the late write's epoch, or takes over its batch.
   * The read goes past the circuit breaker (which the timeout may just have opened) and is
   * retried while its own outcome is unknown, for at most half a request timeout.
   */
  const settle = (
    roomId: RoomId,
    where: Where,
    fence: Fence,
    error: StorageError,
    applied: (head: Head | undefined) => boolean,
    unmoved: (head: Head | undefined) => boolean
  ): Effect.Effect<void, StorageError | StaleWrite> =>
    readAt("messages.head.settle", roomId, where, true).pipe(
      Effect.retry({ while: isUnknownOutcome, schedule: Schedule.spaced(Duration.millis(settleRetrySpacingMs)) }),
      Effect.timeoutOrElse({
        duration: Duration.millis(Duration.toMillis(db.requestTimeout) / 2),
        orElse: () => Effect.fail(error)
      }),
      Effect.flatMap((head): Effect.Effect<void, StorageError | StaleWrite> => {
        if (applied(head)) return Effect.void
        if (unmoved(head)) return Effect.fail(error)
        return Effect.fail(refusal(roomId, fence, head?.epoch ?? null))
      })
    )

  /** Runs a conditional write; not applied becomes the refusal, unknown the settling read. */
  const conditional = (
    roomId: RoomId,
    where: Where,
    fence: Fence,
    write: Effect.Effect<cassandra.types.ResultSet, StorageError>,
    applied: (head: Head | undefined) => boolean,
    unmoved: (head: Head | undefined) => boolean = (head) =>
      head?.epoch === fence.epoch && head.lastSeq === fence.afterSeq && head.next === null
  ) =>
    write.pipe(
      Effect.flatMap(
        (rs): Effect.Effect<void, StaleWrite> =>
          rs.wasApplied() ? Effect.void : Effect.fail(refusal(roomId, fence, long(rs.first() ?? undefined, "epoch")))
      ),
      Effect.catchIf(
        (e): e is StorageError => e._tag === "StorageError" && isUnknownOutcome(e),
        (e) => settle(roomId, where, fence, e, applied, unmoved)
      )
    )

  const headMoved = (last: MessageRecord, fence: Fence) => (head: Head | undefined) =>
    head?.epoch === fence.epoch && head.lastId === last.id

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
    entries: ReadonlyArray<Statement>
  ) => {
    const last = records.at(-1)!
    const write = db.batch(
      "messages.append.commit",
      [
        {
          query:
            "UPDATE room_messages SET last_seq = ?, last_msg_id = ?, batch_from = ? WHERE room_id = ? AND bucket = ?",
          params: [last.seq, uuid(last.id), records[0]!.seq, uuid(roomId), new Date(bucket)]
        },
        ...rowInserts(roomId, bucket, records),
        ...targets,
        ...entries
      ],
      { logged: false, timestamp }
    )
    // Settled as applied, the head's partition is known to have it, the entries' are not: they
    // are written again (the same values and timestamp).
    const entriesAgain =
      entries.length === 0 ? Effect.void : writeClientIds(roomId, () => bucket, records, clientIdTimestamp(fence.epoch))
    return write.pipe(
      Effect.asVoid,
      Effect.catchIf(
        (e): e is StorageError => e._tag === "StorageError" && isUnknownOutcome(e),
        (e) =>
          Effect.andThen(
            settle(roomId, part(bucket), fence, e, headMoved(last, fence), () => true),
            entriesAgain
          )
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
    leaseUntil: number
  ) => {
    const last = records.at(-1)!
    const write = db.batch("messages.append.commit", [
      {
        query:
          "UPDATE room_messages SET last_seq = ?, last_msg_id = ?, batch_from = ?, lease_until = ? WHERE room_id = ? AND bucket = ? IF epoch = ? AND last_seq = ? AND next_bucket = null",
        params: [
          last.seq,
          uuid(last.id),
          records[0]!.seq,
          new Date(leaseUntil),
          uuid(roomId),
          new Date(bucket),
          fence.epoch,
          fence.afterSeq
        ]
      },
      ...rowInserts(roomId, bucket, records),
      ...targets
    ])
    return withClientIds(
      roomId,
      bucket,
      records,
      fence,
      conditional(roomId, part(bucket), fence, write, headMoved(last, fence))
    )
  }

  /** Whether the lease has half or less left, so the next commit renews it first (or with it). */
  const renewalDue = (known: Live, now: number) => known.leaseUntil - now <= leases.lease / 2

  /**
   * Whether a commit may renew the lease itself, as one conditional batch: only once the head's
   * last plain write is older than the clocks' skew, so that the Paxos round's timestamp (the
   * coordinator's clock) is above it and the head it writes wins. In a quiet room that is every
   * commit after a pause; a busy room renews by `leased` and goes on with plain writes.
   */
  const mayRenewInCommit = (known: Live, now: number) =>
    renewalDue(known, now) && known.lastPlain < (now - leases.skew) * 1000

  /**
   * Renews the owner's lease on its live partition once less than half is left: one LWT every
   * half lease while the room is busy, which also tells a deposed owner (it does not apply).
   */
  const leased = Effect.fnUntraced(function* (roomId: RoomId, known: Live, fence: Fence) {
    const now = Date.now()
    if (!renewalDue(known, now) || known.where.root) return known
    const where = known.where
    const renewed = yield* conditional(
      roomId,
      where,
      fence,
      db.execute(
        "messages.append.lease",
        "UPDATE room_messages SET lease_until = ? WHERE room_id = ? AND bucket = ? IF epoch = ? AND next_bucket = null",
        [new Date(now + leases.lease), uuid(roomId), new Date(where.bucket), fence.epoch]
      ),
      (head) => head?.epoch === fence.epoch && head.leaseUntil === now + leases.lease,
      () => true
    ).pipe(Effect.as({ ...known, leaseUntil: now + leases.lease }))
    remember(roomId, renewed)
    return renewed
  })

  const leaseRanOut = (when: string) =>
    new StorageError({ operation: "messages.append", cause: new Error(`the room's lease ran out ${when}`) })

  /**
   * A plain commit goes out only within the lease, its timestamp below the lease's end: a claim
   * elsewhere may begin once the lease has run out, and its shadowing write must be above every
   * write this owner sent. Checked right before sending, since the renewal or the read of the
   * floor before it may have taken that long. Nothing was sent: the actor claims again.
   */
  const sendable = (held: Live, timestamp: number) =>
    Effect.suspend(() =>
      Date.now() < held.leaseUntil && timestamp < held.leaseUntil * 1000
        ? Effect.void
        : Effect.fail(leaseRanOut("before the commit could be sent; nothing was sent"))
    )

  /** Refuses an acknowledgement once a later claim in this process deposed the writer. */
  const deposedHere = (roomId: RoomId, fence: Fence) =>
    Effect.suspend((): Effect.Effect<void, StaleWrite> => {
      const latest = lives.get(roomId)
      return latest !== undefined && latest.epoch !== fence.epoch
        ? Effect.fail(refusal(roomId, fence, latest.epoch))
        : Effect.void
    })

  /**
   * A commit is acknowledged only if Cassandra answered it within the lease (a node claiming the
   * room waits the lease out, so it then reads the commit) and no later claim in this process
   * deposed its writer meanwhile.
   */
  const acknowledgeable = (roomId: RoomId, known: Live, fence: Fence) =>
    Effect.andThen(
      deposedHere(roomId, fence),
      Effect.suspend(() =>
        Date.now() >= known.leaseUntil
          ? Effect.fail(leaseRanOut("before the commit was answered; its outcome is unknown"))
          : Effect.void
      )
    )

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
   * The successor's first commit: its head (our epoch) and the batch, if nobody initialised it
   * yet. A successor poisoned by a claim (an epoch, no head) is taken only by a writer whose
   * epoch is at least the poisoner's, i.e. one that sealed its predecessor after that claim.
   */
  const initialise = (
    roomId: RoomId,
    bucket: number,
    records: ReadonlyArray<MessageRecord>,
    fence: Fence,
    leaseUntil: number
  ) => {
    const last = records.at(-1)!
    const attempt = (poisonedBy: number | null) =>
      db.batch("messages.append.commit", [
        {
          query: `UPDATE room_messages SET epoch = ?, lease_until = ?, last_seq = ?, last_msg_id = ?, batch_from = ?, base_seq = ? WHERE room_id = ? AND bucket = ? IF epoch = ${poisonedBy === null ? "null" : "?"} AND last_seq = null`,
          params: [
            fence.epoch,
            new Date(leaseUntil),
            last.seq,
            uuid(last.id),
            records[0]!.seq,
            fence.afterSeq,
            uuid(roomId),
            new Date(bucket),
            ...(poisonedBy === null ? [] : [poisonedBy])
          ]
        },
        ...rowInserts(roomId, bucket, records)
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

  /**
   * The batch with its client ids, side by side: both must land for the append to succeed.
   * Neither interrupts the other (a commit already sent lands anyway), and the commit's own
   * failure is the one reported: a refusal tells the actor it was deposed.
   */
  const withClientIds = (
    roomId: RoomId,
    bucket: number,
    records: ReadonlyArray<MessageRecord>,
    fence: Fence,
    write: Effect.Effect<void, StorageError | StaleWrite>
  ) =>
    Effect.all(
      [Effect.exit(write), Effect.exit(writeClientIds(roomId, () => bucket, records, clientIdTimestamp(fence.epoch)))],
      { concurrency: 2 }
    ).pipe(Effect.flatMap(([committed, ids]) => Effect.andThen(committed, ids)))

  /**
   * The live head as storage shows it (SERIAL reads), without claiming: the end of the chain.
   * A seal whose successor has no head yet ends the walk at the sealed head (only a claim may
   * settle it), which refuses any append.
   */
  const locate = Effect.fnUntraced(function* (roomId: RoomId, operation: string) {
    const root = yield* readAt(operation, roomId, rootHead)
    if (root === undefined || root.next === null) return { head: root, where: rootHead as Where }
    // The newest indexed partition is initialised (its row follows its first commit), so the
    // walk may start there when it is in the chain (at or after the first partition).
    const indexed = yield* newestIndexed(roomId)
    let head: Head = root
    if (indexed !== null && indexed >= root.next) {
      const start = yield* readAt(operation, roomId, part(indexed))
      if (start !== undefined && start.lastSeq !== null) head = start
    }
    for (let step = 0; head.next !== null && step < maxWalk; step++) {
      const successor = yield* readAt(operation, roomId, part(head.next))
      if (successor === undefined || successor.lastSeq === null) break
      head = successor
    }
    return { head: head as Head | undefined, where: head.where }
  })

  /** WRITETIME(last_seq) of a partition, µs: the Paxos timestamp of the LWT that wrote its head. */
  const lwtWritten = (roomId: RoomId, bucket: number) =>
    db
      .executeUnguarded(
        "messages.append.written",
        "SELECT WRITETIME(last_seq) AS written FROM room_messages WHERE room_id = ? AND bucket = ? LIMIT 1",
        [uuid(roomId), new Date(bucket)]
      )
      .pipe(Effect.map((rs) => long(rs.first() ?? undefined, "written") ?? 0))

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
        lastPlain: head.written ?? 0
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
    if (!rollover) {
      const bucket = where.bucket
      const here = outside.filter((c) =>
        c.targetPartition !== undefined ? c.targetPartition === bucket : timeUuidMs(c.targetId!) >= bucket
      )
      const inHere = byTarget(here).map((changes) => targetUpdate(roomId, bucket, changes, false))
      const now = Date.now()
      if (mayRenewInCommit(known, now)) {
        const leaseUntil = now + leases.lease
        yield* renewingCommit(roomId, bucket, rows, fence, inHere, leaseUntil)
        yield* deposedHere(roomId, fence)
        remember(roomId, { ...known, lastMs, lastSeq: records.at(-1)!.seq, leaseUntil, floor: null })
      } else {
        const held = yield* leased(roomId, known, fence)
        const floor = held.floor ?? (yield* lwtWritten(roomId, bucket))
        const timestamp = writeTimestamp(floor)
        yield* sendable(held, timestamp)
        const entries = entriesInCommit(roomId, bucket, records, fence.epoch)
        const write = commit(roomId, bucket, rows, fence, inHere, timestamp, entries)
        yield* entries.length > 0 ? write : withClientIds(roomId, bucket, records, fence, write)
        yield* acknowledgeable(roomId, held, fence)
        remember(roomId, { ...held, lastMs, lastSeq: records.at(-1)!.seq, floor, lastPlain: timestamp })
      }
      yield* edits.applyElsewhere(
        roomId,
        outside.filter((c) => !here.includes(c))
      )
      return
    }
    const next = firstMs
    yield* seal(roomId, where, next, fence)
    const leaseUntil = Date.now() + leases.lease
    yield* withClientIds(roomId, next, records, fence, initialise(roomId, next, rows, fence, leaseUntil))
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
      lastPlain: 0
    })
    yield* edits.applyElsewhere(roomId, outside)
  })

  /** The newest batch of a partition (seq ≥ `batch_from`), oldest first. */
  const lastBatch = (
    roomId: RoomId,
    head: Head & { readonly where: { readonly root: false; readonly bucket: number } }
  ) =>
    db
      .execute(
        "messages.claim.lastBatch",
        `SELECT ${rowColumns} FROM room_messages WHERE room_id = ? AND bucket = ? LIMIT ?`,
        [uuid(roomId), new Date(head.where.bucket), Math.max(1, (head.lastSeq ?? 0) - (head.batchFrom ?? 0) + 1)]
      )
      .pipe(
        Effect.map((rs) =>
          rs.rows
            .filter((row) => row.get("msg_id") !== null)
            .map((row) => toMessage(roomId, row))
            .filter((m) => m.seq >= head.batchFrom!)
            .reverse()
        )
      )

  /**
   * Settles a partition's newest batch before a claim takes the room on: its client ids, the
   * partition's index row and its changes to messages of older partitions, which its writer
   * may have died before writing. Idempotent.
   */
  const repair = Effect.fnUntraced(function* (roomId: RoomId, head: Head) {
    if (head.where.root || head.batchFrom === null) return []
    const batch = yield* lastBatch(roomId, head as Head & { where: { root: false; bucket: number } })
    const bucket = head.where.bucket
    yield* writeClientIds(roomId, () => bucket, batch, clientIdTimestamp(head.epoch ?? 0))
    yield* writeIndex(roomId, head.where.bucket)
    // Changes to messages of older partitions follow the commit: re-applied (idempotent: this
    // batch is the newest, so they are their targets' latest state).
    yield* edits.applyElsewhere(
      roomId,
      foldBatch(batch).outside.filter((c) => timeUuidMs(c.targetId!) < bucket)
    )
    return batch
  })

  /** Rows of a root's pending batch (heads written before 005), rewritten as that version did. */
  const repairPending = Effect.fnUntraced(function* (roomId: RoomId, raw: string | null) {
    if (raw === null) return []
    const pending: Pending = yield* decodePending(raw).pipe(
      Effect.mapError((cause) => new StorageError({ operation: "messages.claim.pending", cause }))
    )
    if (pending.length === 0) return []
    const room = uuid(roomId)
    const records = pending.map(({ bucket: _, ...m }): MessageRecord => ({ ...m, ...plainMessage, roomId }))
    yield* db.batchUnguarded(
      "messages.claim.pending",
      [
        ...pending.map((m, i) => ({
          query: `INSERT INTO room_messages (room_id, bucket, ${messageColumns}, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          params: [room, new Date(m.bucket), ...messageValues(records[i]!), termsValue(records[i]!)]
        })),
        ...[...new Set(pending.map((m) => m.bucket))].map((bucket) => ({
          query: "INSERT INTO room_buckets (room_id, bucket) VALUES (?, ?)",
          params: [room, new Date(bucket)]
        }))
      ],
      { logged: false, timestamp: timeUuidMicros(pending.at(-1)!.id) }
    )
    const bucketOf = new Map(pending.map((m) => [m.id as string, m.bucket]))
    yield* writeClientIds(roomId, (m) => bucketOf.get(m.id)!, records, timeUuidMicros(pending.at(-1)!.id))
    return records
  })

  /** The claim's LWT on a live head: a new epoch and its lease, if nothing moved since the read. */
  const takeOver = (roomId: RoomId, head: Head | undefined, where: Where, leaseUntil: number) => {
    const epoch = head?.epoch ?? null
    const lastSeq = head?.lastSeq ?? null
    return (
      where.root
        ? db.execute(
            "messages.claim",
            "UPDATE room_heads SET epoch = ?, last_seq = ?, pending = null WHERE room_id = ? IF epoch = ? AND last_seq = ? AND next_bucket = null",
            [(epoch ?? 0) + 1, lastSeq ?? 0, uuid(roomId), epoch, lastSeq]
          )
        : db.execute(
            "messages.claim",
            "UPDATE room_messages SET epoch = ?, lease_until = ? WHERE room_id = ? AND bucket = ? IF epoch = ? AND last_seq = ? AND next_bucket = null AND lease_until = ?",
            [
              (epoch ?? 0) + 1,
              new Date(leaseUntil),
              uuid(roomId),
              new Date(where.bucket),
              epoch,
              lastSeq,
              head?.leaseUntil == null ? null : new Date(head.leaseUntil)
            ]
          )
    ).pipe(Effect.map((rs) => rs.wasApplied()))
  }

  /**
   * A seal whose successor has no head: its writer died (or is about to be refused) between
   * the two steps. Poison the successor with the new epoch, so that writer's initialisation
   * is refused, then reopen the sealed head under that epoch. False if anything moved meanwhile.
   */
  const abortRollover = (roomId: RoomId, sealed: Head, leaseUntil: number) =>
    Effect.gen(function* () {
      const epoch = (sealed.epoch ?? 0) + 1
      const successor = sealed.next!
      const poisoned = yield* db.execute(
        "messages.claim.poison",
        "UPDATE room_messages SET epoch = ? WHERE room_id = ? AND bucket = ? IF epoch = null",
        [epoch, uuid(roomId), new Date(successor)]
      )
      if (!poisoned.wasApplied()) {
        // Initialised meanwhile (the walk goes on there) or poisoned by another claim: its
        // epoch must not exceed ours for the reopening to stand (checked by the next walk).
        const by = long(poisoned.first() ?? undefined, "epoch")
        const head = long(poisoned.first() ?? undefined, "last_seq")
        if (head !== null || by === null || by > epoch) return false
      }
      const reopened = yield* (
        sealed.where.root
          ? db.execute(
              "messages.claim.reopen",
              "UPDATE room_heads SET next_bucket = null, epoch = ?, pending = null WHERE room_id = ? IF epoch = ? AND last_seq = ? AND next_bucket = ?",
              [epoch, uuid(roomId), sealed.epoch, sealed.lastSeq, new Date(successor)]
            )
          : db.execute(
              "messages.claim.reopen",
              "UPDATE room_messages SET next_bucket = null, epoch = ?, lease_until = ? WHERE room_id = ? AND bucket = ? IF epoch = ? AND last_seq = ? AND next_bucket = ?",
              [
                epoch,
                new Date(leaseUntil),
                uuid(roomId),
                new Date(sealed.where.bucket),
                sealed.epoch,
                sealed.lastSeq,
                new Date(successor)
              ]
            )
      ).pipe(Effect.map((rs) => rs.wasApplied()))
      return reopened
    })

  const claimOnce = Effect.fnUntraced(function* (roomId: RoomId) {
    const { head, where } = yield* locate(roomId, "messages.head")
    if (
      head !== undefined &&
      head.next === null &&
      head.leaseUntil !== null &&
      lives.get(roomId)?.epoch !== head.epoch
    ) {
      // Another process's lease: wait it out, then read the head again (it may have been renewed).
      const left = head.leaseUntil + leases.skew - Date.now()
      if (left > 0) return yield* wallSleep(left).pipe(Effect.as(Option.none<Claim>()))
    }
    const leaseUntil = Date.now() + leases.lease
    if (head !== undefined && head.next !== null) {
      // The walk stopped at a seal whose successor has no head.
      const repaired = yield* repair(roomId, head)
      if (!(yield* abortRollover(roomId, head, leaseUntil))) return Option.none<Claim>()
      return Option.some(yield* claimed(roomId, head, where, repaired, leaseUntil))
    }
    const repaired = where.root ? yield* repairPending(roomId, head?.pending ?? null) : yield* repair(roomId, head!)
    if (!(yield* takeOver(roomId, head, where, leaseUntil))) return Option.none<Claim>()
    return Option.some(yield* claimed(roomId, head, where, repaired, leaseUntil))
  })

  /**
   * After a claim's LWT on a partition: the rows after the head it read are deleted and the head
   * written again, above every write of the deposed owner (sent before its lease ran out, which
   * the claim waited for, or earlier in this process) and every LWT write of the partition. So a
   * write of the deposed owner that lands after this is never read (`cql/014_room_lease.cql`).
   */
  const shadowLateWrites = (roomId: RoomId, head: Head, bucket: number) => {
    // Not above the old lease itself: the claim waited it out (the clock is past it), or it was
    // this process's (whose timestamps rise), and a timestamp ahead of the clock would win over
    // later writes stamped by Cassandra's clock (an edit's LWT, a deletion).
    const timestamp = writeTimestamp(head.written ?? 0)
    const keys = [uuid(roomId), new Date(bucket)]
    return db
      .batchUnguarded(
        "messages.claim.shadow",
        [
          ...(head.lastId === null
            ? []
            : [
                {
                  query: "DELETE FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id > ?",
                  params: [...keys, uuid(head.lastId as MessageId)]
                }
              ]),
          {
            query:
              "UPDATE room_messages SET last_seq = ?, last_msg_id = ?, batch_from = null WHERE room_id = ? AND bucket = ?",
            params: [head.lastSeq, head.lastId === null ? null : uuid(head.lastId as MessageId), ...keys]
          }
        ],
        { logged: false, timestamp }
      )
      .pipe(Effect.as(timestamp))
  }

  const claimed = Effect.fnUntraced(function* (
    roomId: RoomId,
    head: Head | undefined,
    where: Where,
    repaired: ReadonlyArray<MessageRecord>,
    leaseUntil: number
  ) {
    const epoch = (head?.epoch ?? 0) + 1
    const lastId = (head?.lastId as MessageId | null | undefined) ?? null
    const known: Live = {
      epoch,
      where,
      base: head?.base ?? 0,
      lastMs: lastId === null ? Number.NEGATIVE_INFINITY : timeUuidMs(lastId),
      lastSeq: head?.lastSeq ?? 0,
      leaseUntil,
      floor: 0,
      lastPlain: head?.written ?? 0
    }
    // Known here before the shadowing write: if it fails, the next claim needs no wait for our lease.
    remember(roomId, known)
    if (!where.root) {
      const shadowed = yield* shadowLateWrites(roomId, head!, where.bucket)
      remember(roomId, { ...known, floor: shadowed, lastPlain: shadowed })
    }
    return { epoch, lastSeq: head?.lastSeq ?? 0, lastId, repaired } satisfies Claim
  })

  /**
   * The claim of `epoch` is done in this process (its actor stopped): its lease ends now, so
   * the next claim, here or elsewhere, waits only for the clocks' skew. Best effort.
   */
  const release = (roomId: RoomId, epoch: number) =>
    Effect.suspend(() => {
      const known = lives.get(roomId)
      if (known === undefined || known.epoch !== epoch || known.where.root) return Effect.void
      remember(roomId, { ...known, leaseUntil: 0 })
      return db
        .executeUnguarded(
          "messages.release",
          "UPDATE room_messages SET lease_until = ? WHERE room_id = ? AND bucket = ? IF epoch = ? AND next_bucket = null",
          [new Date(), uuid(roomId), new Date(known.where.bucket), epoch]
        )
        .pipe(Effect.ignore)
    })

  const claim = Effect.fn("Messages.claim")(function* (roomId: RoomId) {
    for (let attempt = 1; ; attempt++) {
      // Unknown outcome: claim again from what storage shows then (a claim is never wrong to
      // repeat; it only deposes every earlier one, ours included).
      const taken = yield* claimOnce(roomId).pipe(
        Effect.catchIf(
          (e) => isUnknownOutcome(e) && attempt < claimAttempts,
          () => Effect.succeedNone
        )
      )
      if (Option.isSome(taken)) return taken.value
      if (attempt >= claimAttempts) {
        return yield* new StorageError({
          operation: "messages.claim",
          cause: new Error(`the room's head moved during each of ${claimAttempts} attempts`)
        })
      }
    }
  })

  return { append, claim, release, find: edits.find }
}
