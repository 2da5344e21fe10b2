import { Effect, Layer } from "effect"
import { StorageStats } from "../stats.ts"
import { SqliteDatabase } from "./database.ts"

/**
 * Counted on demand: SQLite counts a table from its smallest index, and the day's messages
 * from the index on `created_at`, quickly enough for an operator's request.
 */
export const query = `SELECT
  (SELECT COUNT(*) FROM users) AS users,
  (SELECT COUNT(*) FROM rooms) AS rooms,
  (SELECT COUNT(*) FROM room_messages WHERE created_at >= ?) AS messages_today`

export const SqliteStats = Layer.effect(
  StorageStats,
  Effect.gen(function* () {
    const db = yield* SqliteDatabase
    return StorageStats.of({
      counts: (dayStart) =>
        db.get<{ users: number; rooms: number; messages_today: number }>("stats.counts", query, dayStart).pipe(
          Effect.map((row) => ({
            users: row?.users ?? 0,
            rooms: row?.rooms ?? 0,
            messagesToday: row?.messages_today ?? 0
          }))
        )
    })
  })
)
