import { Effect, Layer } from "effect"
import { StorageHealth } from "../health.ts"
import { SqliteAudit } from "./audit.ts"
import { SqliteDatabase, type SqliteOptions } from "./database.ts"
import { SqliteMessages } from "./messages.ts"
import { SqliteRooms } from "./rooms.ts"
import { SqliteSearch } from "./search.ts"
import { PendingWords } from "./search-pending.ts"
import { SqliteSessions } from "./sessions.ts"
import { SqliteStats } from "./stats.ts"
import { SqliteUsers } from "./users.ts"

const SqliteHealth = Layer.effect(
  StorageHealth,
  Effect.map(SqliteDatabase, (db) =>
    StorageHealth.of({ name: "sqlite", check: db.get("health", "SELECT 1").pipe(Effect.asVoid) })
  )
)

/** Every storage service on one SQLite file (`:memory:` for throwaway tests). */
export const layer = (filename: string, options?: SqliteOptions) =>
  Layer.mergeAll(
    SqliteUsers,
    SqliteSessions,
    SqliteRooms,
    // PendingWords too: the worker offers it, for the appends made on the server's thread.
    SqliteMessages.pipe(Layer.provideMerge(PendingWords.layer)),
    SqliteAudit,
    SqliteStats,
    SqliteHealth,
    SqliteSearch
  ).pipe(Layer.provide(SqliteDatabase.layer(filename, options)))

export { layerWorker } from "./worker-layer.ts"
