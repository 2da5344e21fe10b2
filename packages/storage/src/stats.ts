import { Context, type Effect } from "effect"
import type { StorageError } from "./errors.ts"

/** Totals for operators, kept without scanning any table. */
export class StorageStats extends Context.Service<
  StorageStats,
  {
    /** Users and rooms that exist now; messages stored since `dayStart` (epoch ms, 00:00 UTC). */
    readonly counts: (
      dayStart: number
    ) => Effect.Effect<{ readonly users: number; readonly rooms: number; readonly messagesToday: number }, StorageError>
  }
>()("parley/storage/StorageStats") {}
