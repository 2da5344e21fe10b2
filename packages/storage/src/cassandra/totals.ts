import type { RoomId } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Effect } from "effect"
import type { MessageRecord } from "../messages.ts"
import type { CassandraClient } from "./client.ts"

/**
 * The counters behind `StorageStats` (see `cql/003_admin.cql`). An update follows the write
 * it counts and never fails that write: by then the data is stored, and an increment cannot
 * be retried safely (a timed-out one may have been applied). A lost update leaves a total
 * off by one, which operators' statistics can bear.
 */

const dayMs = 86_400_000

/** 00:00 UTC of the day holding `ms`. */
export const utcDay = (ms: number) => Math.floor(ms / dayMs) * dayMs

/** The day as `totals_baseline` keys it: 'YYYY-MM-DD' (UTC). */
export const utcDayKey = (ms: number) => new Date(utcDay(ms)).toISOString().slice(0, 10)

/** Cells the day's message counter is spread over. */
export const dayShards = 16

const counted = (db: CassandraClient["Service"], operation: string, query: string, params: ReadonlyArray<unknown>) =>
  // Past the circuit breaker: a slow counter update says little about the cluster, and no
  // user waits on it.
  db.executeUnguarded(operation, query, params).pipe(
    Effect.catch((error) => Effect.logWarning(`${operation}: counter not updated`, error)),
    Effect.asVoid
  )

/** `users` or `rooms` moves by `delta`. */
export const bumpTotal = (db: CassandraClient["Service"], name: "users" | "rooms", delta: number) =>
  counted(db, `totals.${name}`, "UPDATE totals SET value = value + ? WHERE scope = 0 AND name = ?", [
    cassandra.types.Long.fromNumber(delta),
    name
  ])

/**
 * Counts stored messages per UTC day they were created on (`messages_per_day`, the room's
 * shard of the day), one counter update in flight per (day, shard) at a time: what is counted
 * meanwhile goes out in the next one (as a room's group commit does for messages), at most
 * one per `counterSpacingMs`: a busy room pays a counter update per half second, not one per
 * batch. Runs in the background through `run`; acks never wait. What still waits when the
 * process stops is lost: a total short by under a second's messages, like a lost update.
 */
const counterSpacingMs = 500
/**
 * The wall clock's pause, not `Effect.sleep`: bookkeeping paced in real time whatever clock
 * the caller runs on (tests with a TestClock store messages too).
 */
const spacing = Effect.callback<void>((resume) => {
  const timer = setTimeout(() => resume(Effect.void), counterSpacingMs)
  return Effect.sync(() => clearTimeout(timer))
})

export const messageCounter = (db: CassandraClient["Service"], run: (effect: Effect.Effect<void>) => unknown) => {
  const waiting = new Map<string, { readonly day: number; readonly shard: number; n: number }>()
  const inFlight = new Set<string>()
  const send = (key: string) => {
    const next = waiting.get(key)
    if (next === undefined) {
      inFlight.delete(key)
      return
    }
    waiting.delete(key)
    inFlight.add(key)
    run(
      counted(
        db,
        "totals.messages",
        "UPDATE messages_per_day SET messages = messages + ? WHERE day = ? AND shard = ?",
        [cassandra.types.Long.fromNumber(next.n), new Date(next.day), next.shard]
      ).pipe(Effect.andThen(spacing), Effect.ensuring(Effect.sync(() => send(key))))
    )
  }
  return (roomId: RoomId, messages: ReadonlyArray<MessageRecord>) => {
    const shard = Number.parseInt(roomId.slice(-1), 16) % dayShards
    for (const m of messages) {
      const day = utcDay(m.createdAt)
      const key = `${day}/${shard}`
      const entry = waiting.get(key)
      if (entry === undefined) waiting.set(key, { day, shard, n: 1 })
      else entry.n++
    }
    for (const key of [...waiting.keys()]) if (!inFlight.has(key)) send(key)
  }
}
