/**
 * A room's head on Cassandra (`room_heads`, see `cql/004_fencing.cql`): the commit point of
 * every append and the room's owner epoch, both moved only by lightweight transactions.
 *
 * An append is two steps, because a conditional batch cannot span partitions: first one LWT
 * on the head (`IF epoch = <the writer's> AND last_seq = <the seq it continues from>`) that
 * moves it to the batch's last message and keeps a copy of the batch in `pending`; then, only
 * if that applied, the rows. The LWT is the commit: a deposed writer, or one continuing from a
 * stale head, gets `[applied] = false` and writes nothing. If the node dies between the two
 * steps, the next `claim` finds the batch in `pending` and writes its rows (same keys, same
 * values, same timestamp: idempotent) before it takes the room over.
 */
import { MessageId, type RoomId, timeUuidMicros, UserId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Duration, Effect, Schedule, Schema } from "effect"
import { StaleWrite, StorageError } from "../errors.ts"
import type { Claim, Fence, MessageRecord } from "../messages.ts"
import { type CassandraClient, isUnknownOutcome, serialRead, uuid } from "./client.ts"
import { messageColumns, messageValues } from "./message-rows.ts"

/** A committed batch as the head keeps it until the next commit or claim: rows to (re)write. */
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
      /** The partition the row goes to, fixed at commit: the window size may change later. */
      bucket: Schema.Number
    })
  )
)
type Pending = typeof PendingBatch.Type
const encodePending = Schema.encodeSync(PendingBatch)
const decodePending = Schema.decodeUnknownEffect(PendingBatch)

/** Between the settling read's attempts while the cluster does not answer. */
const settleRetrySpacingMs = 50

/** Claims retry while another writer moves the head between the read and the LWT. */
const claimAttempts = 20

const long = (row: cassandra.types.Row | undefined, column: string): number | null =>
  (row?.get(column) as cassandra.types.Long | null | undefined)?.toNumber() ?? null

export const roomHead = (db: CassandraClient["Service"], bucketOf: (id: MessageId) => number) => {
  /** The batch's rows: messages, their windows' index rows, client-id copies. */
  const rowWrites = (roomId: RoomId, batch: Pending) => {
    const room = uuid(roomId)
    const records = batch.map((p) => ({ ...p, roomId }))
    return [
      ...records.map((m) => ({
        query: `INSERT INTO room_messages (room_id, bucket, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        params: [room, new Date(m.bucket), ...messageValues(m)]
      })),
      ...[...new Set(records.map((m) => m.bucket))].map((bucket) => ({
        query: "INSERT INTO room_buckets (room_id, bucket) VALUES (?, ?)",
        params: [room, new Date(bucket)]
      })),
      ...records
        .filter((m) => m.clientMsgId !== null)
        .map((m) => ({
          query: `INSERT INTO room_messages_by_client_id (room_id, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          params: [room, ...messageValues(m)]
        }))
    ]
  }

  /**
   * Unlogged: the head's `pending` copy is the batch's log, so Cassandra's batchlog (a second
   * round of writes) buys nothing. Timestamped by the newest message, so a repair rewrites
   * exactly the same cells. Past the circuit breaker: the batch is committed already, and
   * refusing its rows would only turn stored messages into failures.
   */
  const writeRows = (roomId: RoomId, batch: Pending) =>
    db.batchUnguarded("messages.append.rows", rowWrites(roomId, batch), {
      logged: false,
      timestamp: timeUuidMicros(batch.at(-1)!.id)
    })

  const headQuery = "SELECT epoch, last_seq, last_msg_id, pending FROM room_heads WHERE room_id = ?"
  const readHead = (roomId: RoomId) =>
    db.execute("messages.head", headQuery, [uuid(roomId)], serialRead).pipe(Effect.map((rs) => rs.first() ?? undefined))

  /**
   * The settling read: past the circuit breaker, which the LWT's own timeout may just have
   * opened (refused at once, it would report an applied LWT as failed), and retried while
   * its outcome is unknown too, for at most half a request timeout in all, so the user's
   * answer still comes within the fail-fast bound.
   */
  const settleRead = (roomId: RoomId, error: StorageError) =>
    db.executeUnguarded("messages.head.settle", headQuery, [uuid(roomId)], serialRead).pipe(
      Effect.map((rs) => rs.first() ?? undefined),
      Effect.retry({
        while: isUnknownOutcome,
        schedule: Schedule.spaced(Duration.millis(settleRetrySpacingMs))
      }),
      Effect.timeoutOrElse({
        duration: Duration.millis(Duration.toMillis(db.requestTimeout) / 2),
        orElse: () => Effect.fail(error)
      })
    )

  const refusal = (roomId: RoomId, fence: Fence, epoch: number | null) =>
    new StaleWrite({ roomId, reason: epoch === fence.epoch ? "stale head" : "deposed" })

  /**
   * The LWT timed out, so it may or may not have applied. A SERIAL read finishes any Paxos
   * round that got as far as being accepted, so our epoch with our last id means applied,
   * and the rows follow. The head unmoved is not final: the LWT may still be queued at the
   * coordinator and apply later. That is safe only because the append then fails, and the
   * room's actor claims again after any failed append (see `Fence`): the claim deposes the
   * late LWT's epoch, or repairs its batch if it lands first, before anything continues.
   */
  const settle = (
    roomId: RoomId,
    fence: Fence,
    last: MessageRecord,
    error: StorageError
  ): Effect.Effect<void, StorageError | StaleWrite> =>
    Effect.flatMap(settleRead(roomId, error), (head): Effect.Effect<void, StorageError | StaleWrite> => {
      const epoch = long(head, "epoch")
      if (epoch === fence.epoch && head?.get("last_msg_id")?.toString() === last.id) return Effect.void
      if (epoch === fence.epoch && long(head, "last_seq") === fence.afterSeq) return Effect.fail(error)
      return Effect.fail(refusal(roomId, fence, epoch))
    })

  /** Step one of an append: the conditional move of the head, with the batch as `pending`. */
  const commit = (roomId: RoomId, records: ReadonlyArray<MessageRecord>, fence: Fence, batch: Pending) => {
    const last = records.at(-1)!
    return db
      .execute(
        "messages.append.head",
        "UPDATE room_heads SET last_seq = ?, last_msg_id = ?, last_bucket = ?, pending = ? WHERE room_id = ? IF epoch = ? AND last_seq = ?",
        [
          last.seq,
          uuid(last.id),
          new Date(bucketOf(last.id)),
          encodePending(batch),
          uuid(roomId),
          fence.epoch,
          fence.afterSeq
        ]
      )
      .pipe(
        Effect.flatMap(
          (rs): Effect.Effect<void, StaleWrite> =>
            rs.wasApplied() ? Effect.void : Effect.fail(refusal(roomId, fence, long(rs.first(), "epoch")))
        ),
        Effect.catchIf(
          (e): e is StorageError => e._tag === "StorageError" && isUnknownOutcome(e),
          (e) => settle(roomId, fence, last, e)
        )
      )
  }

  const append = (roomId: RoomId, records: ReadonlyArray<MessageRecord>, fence: Fence) => {
    const batch: Pending = records.map((m) => ({
      id: m.id,
      seq: m.seq,
      userId: m.userId,
      username: m.username,
      text: m.text,
      clientMsgId: m.clientMsgId,
      createdAt: m.createdAt,
      bucket: bucketOf(m.id)
    }))
    return Effect.andThen(commit(roomId, records, fence, batch), writeRows(roomId, batch))
  }

  const claim = Effect.fn("Messages.claim")(function* (roomId: RoomId) {
    for (let attempt = 1; ; attempt++) {
      const head = yield* readHead(roomId)
      const epoch = long(head, "epoch")
      const lastSeq = long(head, "last_seq")
      const raw = head?.get("pending") as string | null | undefined
      const pending: Pending =
        raw === null || raw === undefined
          ? []
          : yield* decodePending(raw).pipe(
              Effect.mapError((cause) => new StorageError({ operation: "messages.claim.pending", cause }))
            )
      if (pending.length > 0) yield* writeRows(roomId, pending)
      // Conditional on the head we read: had another writer committed since, its batch
      // would be in `pending` and must be repaired before it is cleared.
      const taken = yield* db
        .execute(
          "messages.claim",
          "UPDATE room_heads SET epoch = ?, last_seq = ?, pending = null WHERE room_id = ? IF epoch = ? AND last_seq = ?",
          [(epoch ?? 0) + 1, lastSeq ?? 0, uuid(roomId), epoch, lastSeq]
        )
        .pipe(
          Effect.map((rs) => rs.wasApplied()),
          // Unknown outcome: claim again from what the head shows then (a claim is never wrong
          // to repeat; it only deposes every earlier one, ours included).
          Effect.catchIf(
            (e) => isUnknownOutcome(e) && attempt < claimAttempts,
            () => Effect.succeed(false)
          )
        )
      if (taken) {
        return {
          epoch: (epoch ?? 0) + 1,
          lastSeq: lastSeq ?? 0,
          lastId: (head?.get("last_msg_id")?.toString() as MessageId | undefined) ?? null,
          repaired: pending.map(({ bucket: _, ...m }) => ({ ...m, roomId }))
        } satisfies Claim
      }
      if (attempt >= claimAttempts) {
        return yield* new StorageError({
          operation: "messages.claim",
          cause: new Error(`the room's head moved during each of ${claimAttempts} attempts`)
        })
      }
    }
  })

  return { append, claim }
}
