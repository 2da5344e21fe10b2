/**
 * Claiming a room's head (`cql/005_head_in_partition.cql`, `cql/014_room_lease.cql`): walk the
 * chain to its live end, wait out another process's lease, settle the newest batch its writer
 * may have left half done (client ids, the partition's index row, changes to older
 * partitions), take the head over with a new epoch and lease by an LWT, then shadow anything
 * the deposed owner's late writes could add. A seal whose successor was never initialised is
 * settled by poisoning the successor and reopening the sealed head. `release` ends a claim's
 * lease when its actor stops.
 */
import { MessageId, type RoomId, timeUuidMicros, timeUuidMs, UserId } from "@parley/domain"
import { Effect, Option, Schema } from "effect"
import { StorageError } from "../errors.ts"
import { type Claim, type MessageRecord, plainMessage } from "../messages.ts"
import { type CassandraClient, isUnknownOutcome, uuid } from "./client.ts"
import { clientIdWriter } from "./client-id-writes.ts"
import { foldBatch, type roomEdits } from "./edits.ts"
import { messageColumns, messageValues, rowColumns, termsValue, toMessage } from "./message-rows.ts"
import { type Head, type HeadStore, type Live, long, type Where } from "./room-head-store.ts"
import { type LeaseOptions, wallSleep, writeTimestamp } from "./room-lease.ts"
import { reindexTail, type SearchIndexer } from "./search-indexer.ts"

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

/** Claims retry while another writer moves the head between the read and the LWT. */
const claimAttempts = 20

export const roomClaim = (
  db: CassandraClient["Service"],
  leases: LeaseOptions,
  store: HeadStore,
  edits: ReturnType<typeof roomEdits>,
  indexer?: SearchIndexer
) => {
  const { lives, locate, remember, writeIndex } = store
  const writeClientIds = clientIdWriter(db)

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
   * Settles a partition's newest batch before a claim takes the room on: the partition's index
   * row and the batch's changes to messages of older partitions, which its writer may have died
   * before writing. Idempotent. (Its retry keys are in its rows, `cql/015_keys_in_rows.cql`.)
   */
  const repair = Effect.fnUntraced(function* (roomId: RoomId, head: Head) {
    if (head.where.root || head.batchFrom === null) return []
    const batch = yield* lastBatch(roomId, head as Head & { where: { root: false; bucket: number } })
    const bucket = head.where.bucket
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
      lastPlain: head?.written ?? 0,
      wordsLater: head?.termsThrough != null
    }
    // Known here before the shadowing write: if it fails, the next claim needs no wait for our lease.
    remember(roomId, known)
    if (!where.root) {
      const shadowed = yield* shadowLateWrites(roomId, head!, where.bucket)
      remember(roomId, { ...known, floor: shadowed, lastPlain: shadowed })
      // The words the previous owner had not written yet (a room being deleted needs none).
      if (indexer !== undefined) {
        indexer.claimed(roomId, epoch)
        yield* reindexTail(db, roomId, where.bucket, head!.termsThrough, lastId, writeTimestamp(shadowed))
      }
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

  return { claim, release }
}
