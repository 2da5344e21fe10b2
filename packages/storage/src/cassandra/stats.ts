import type cassandra from "cassandra-driver"
import { Effect, Layer } from "effect"
import { StorageStats } from "../stats.ts"
import { CassandraClient } from "./client.ts"
import { utcDay, utcDayKey } from "./totals.ts"

const long = (value: unknown) => (value as cassandra.types.Long | null)?.toNumber() ?? 0

/**
 * Three single-partition reads: the counters, the day's counter cells, and the baseline the
 * migration counted in data stored before the counters existed.
 */
export const CassandraStats = Layer.effect(
  StorageStats,
  Effect.gen(function* () {
    const db = yield* CassandraClient
    return StorageStats.of({
      counts: Effect.fn("StorageStats.counts")(function* (dayStart) {
        const [totals, day, baseline] = yield* Effect.all(
          [
            db.execute("stats.totals", "SELECT name, value FROM totals WHERE scope = 0"),
            db.execute("stats.messages", "SELECT messages FROM messages_per_day WHERE day = ?", [
              new Date(utcDay(dayStart))
            ]),
            db.execute("stats.baseline", "SELECT users, rooms, messages_per_day FROM totals_baseline WHERE scope = 0")
          ],
          { concurrency: "unbounded" }
        )
        const total = (name: string) => long(totals.rows.find((row) => row.get("name") === name)?.get("value"))
        const base = baseline.first()
        const baseDays = (base?.get("messages_per_day") ?? {}) as Record<string, cassandra.types.Long>
        return {
          users: total("users") + long(base?.get("users")),
          rooms: total("rooms") + long(base?.get("rooms")),
          messagesToday:
            day.rows.reduce((sum, row) => sum + long(row.get("messages")), 0) + long(baseDays[utcDayKey(dayStart)])
        }
      })
    })
  })
)
