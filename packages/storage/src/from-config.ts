/**
 * Which storage backs a process, chosen from the environment. The server and the operator's
 * `parley-admin bootstrap-admin` both open storage through here, so they always agree on
 * where the data is.
 */
import { join, resolve } from "node:path"
import { Config, Effect, Layer } from "effect"
import { CassandraConfig } from "./cassandra/client.ts"
import * as CassandraStorage from "./cassandra/layer.ts"
import * as SqliteStorage from "./sqlite/layer.ts"

/** `sqlite` (embedded default) or `cassandra`: `PARLEY_STORAGE`. */
export const StorageKind = Config.Literals(["sqlite", "cassandra"], "PARLEY_STORAGE").pipe(
  Config.withDefault("sqlite" as const)
)
export type StorageKind = Config.Success<typeof StorageKind>

/** The folder holding the SQLite file (and the server's local signing key): `PARLEY_DATA_DIR`. */
export const DataDir = Config.String("PARLEY_DATA_DIR").pipe(
  Config.withDefault("data"),
  Config.map((d) => resolve(d))
)

/** The SQLite database file inside the data folder. */
export const sqliteFile = (dataDir: string) => join(dataDir, "parley.db")

/**
 * Every storage service on the chosen backend; Cassandra reads its `CASSANDRA_*` settings.
 * SQLite runs on a worker thread: its calls are synchronous and would otherwise hold up the
 * event loop, every socket with it (issue 9 §4).
 */
export const storageLayer = (options: { readonly storage: StorageKind; readonly dataDir: string }) =>
  options.storage === "cassandra"
    ? Layer.unwrap(Effect.map(CassandraConfig, CassandraStorage.layer))
    : SqliteStorage.layerWorker(sqliteFile(options.dataDir))

/** `storageLayer` with its options read from the environment. */
export const storageFromConfig = Layer.unwrap(
  Effect.map(Config.all({ storage: StorageKind, dataDir: DataDir }), storageLayer)
)
