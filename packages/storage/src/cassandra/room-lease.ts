/**
 * The owner's lease on a room's live partition (`cql/014_room_lease.cql`): while it holds, the
 * owner appends with plain writes; renewed by an LWT once half has run out (or by the commit
 * itself in a quiet room, `room-head.ts`); a plain commit is sent and acknowledged only within
 * it, stamped below its end, and never once a later claim in this process deposed its writer.
 */
import type { RoomId } from "@parley/domain"
import { Effect } from "effect"
import { type StaleWrite, StorageError } from "../errors.ts"
import type { Fence } from "../messages.ts"
import { type CassandraClient, uuid } from "./client.ts"
import type { HeadStore, Live } from "./room-head-store.ts"

export interface LeaseOptions {
  /** ms an owner may append with plain writes after its last LWT on the head. */
  readonly lease: number
  /** ms the nodes' clocks may differ by: another node's lease is waited out this much longer. */
  readonly skew: number
}
export const defaultLease: LeaseOptions = { lease: 1000, skew: 250 }

/**
 * Waits on the wall clock, not Effect's: a lease runs out in the time Cassandra and the other
 * nodes see, also under a test's `TestClock`. None for `ms` ≤ 0.
 */
export const wallSleep = (ms: number) =>
  ms <= 0
    ? Effect.void
    : Effect.callback<void>((resume) => {
        const timer = setTimeout(() => resume(Effect.void), ms)
        return Effect.sync(() => clearTimeout(timer))
      })

/**
 * Write timestamps of plain writes, µs: the wall clock, strictly rising within this process (so a
 * claim here is above every write sent here before it) and above `floor`.
 */
let lastTimestamp = 0
export const writeTimestamp = (floor: number) => {
  lastTimestamp = Math.max(Date.now() * 1000, lastTimestamp + 1, floor + 1)
  return lastTimestamp
}

export const roomLease = (db: CassandraClient["Service"], leases: LeaseOptions, store: HeadStore) => {
  const { conditional, lives, refusal, remember } = store

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

  return { renewalDue, mayRenewInCommit, leased, leaseRanOut, sendable, deposedHere, acknowledgeable }
}
