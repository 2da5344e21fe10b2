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

/** One update per UTC day the batch's messages were created on (almost always one). */
export const countMessages = (
  db: CassandraClient["Service"],
  roomId: RoomId,
  messages: ReadonlyArray<MessageRecord>
) => {
  const perDay = new Map<number, number>()
  for (const m of messages) perDay.set(utcDay(m.createdAt), (perDay.get(utcDay(m.createdAt)) ?? 0) + 1)
  const shard = Number.parseInt(roomId.slice(-1), 16) % dayShards
  return Effect.forEach(
    perDay,
    ([day, n]) =>
      counted(
        db,
        "totals.messages",
        "UPDATE messages_per_day SET messages = messages + ? WHERE day = ? AND shard = ?",
        [cassandra.types.Long.fromNumber(n), new Date(day), shard]
      ),
    { discard: true }
  )
}
