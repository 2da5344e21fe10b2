/**
 * A room's head as Cassandra holds it (`cql/005_head_in_partition.cql`): where it lives (the
 * root row or a partition's statics), reading it (one partition, or the whole chain to its live
 * end), what this process knows of the heads it claimed, and running a conditional write on it
 * whose outcome may be unknown. Shared by the append (`room-head.ts`), the lease
 * (`room-lease.ts`) and the claim (`room-claim.ts`).
 */
import type { RoomId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Duration, Effect, Schedule } from "effect"
import { StaleWrite, type StorageError } from "../errors.ts"
import type { Fence, MessageRecord } from "../messages.ts"
import { type CassandraClient, isUnknownOutcome, serialRead, uuid } from "./client.ts"

/** Between the settling read's attempts while the cluster does not answer. */
const settleRetrySpacingMs = 50

/** Partitions followed by one walk before it gives up (a chain longer than that is a bug). */
const maxWalk = 10_000

export type Statement = { readonly query: string; readonly params: ReadonlyArray<unknown> }

export const long = (row: cassandra.types.Row | undefined, column: string): number | null =>
  (row?.get(column) as cassandra.types.Long | null | undefined)?.toNumber() ?? null
export const date = (row: cassandra.types.Row | undefined, column: string): number | null =>
  (row?.get(column) as Date | null | undefined)?.getTime() ?? null
export const text = (row: cassandra.types.Row | undefined, column: string): string | null =>
  (row?.get(column) as { toString(): string } | null | undefined)?.toString() ?? null

/** Where a head lives: the root row (`room_heads`) or a partition of `room_messages`. */
export type Where = { readonly root: true } | { readonly root: false; readonly bucket: number }
export const rootHead: Where = { root: true }
export const part = (bucket: number): Where => ({ root: false, bucket })

export interface Head {
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
  /** Partitions: the newest row whose search words are written (`cql/016_search_after_ack.cql`); null before 016. */
  readonly termsThrough: string | null
}

/** What this process knows of a room's live head since its own claim or append. */
export interface Live {
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
  /**
   * `where` has `terms_through` (`cql/016_search_after_ack.cql`): plain commits there leave their
   * rows' words to `search-indexer.ts`. Until then a commit writes them itself, and sets it.
   */
  readonly wordsLater: boolean
}
const liveKept = 10_000

/**
 * Per client: every `roomHead` on one client (the room actors' `Messages`, a room deletion) shares
 * what this process claimed, so a claim here deposes an earlier one here at once, without waiting
 * for its lease.
 */
const livesByClient = new WeakMap<object, Map<RoomId, Live>>()

export type HeadStore = ReturnType<typeof headStore>

export const headStore = (db: CassandraClient["Service"]) => {
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
          written: where.root ? null : long(row, "written"),
          termsThrough: where.root ? null : text(row, "terms_through")
        }

  const rootQuery = "SELECT epoch, last_seq, last_msg_id, next_bucket, pending FROM room_heads WHERE room_id = ?"
  const partQuery =
    "SELECT epoch, last_seq, last_msg_id, next_bucket, batch_from, base_seq, lease_until, terms_through, WRITETIME(last_seq) AS written FROM room_messages WHERE room_id = ? AND bucket = ? LIMIT 1"
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

  return {
    lives,
    remember,
    readAt,
    locate,
    lwtWritten,
    writeIndex,
    refusal,
    settle,
    conditional,
    headMoved
  }
}
