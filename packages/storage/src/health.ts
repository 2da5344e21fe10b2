import { Context, type Effect } from "effect"
import type { StorageError } from "./errors.ts"

/** A cheap round trip to the database, for `/readyz`. */
export class StorageHealth extends Context.Service<
  StorageHealth,
  {
    readonly name: "sqlite" | "cassandra"
    readonly check: Effect.Effect<void, StorageError>
  }
>()("parley/storage/StorageHealth") {}
