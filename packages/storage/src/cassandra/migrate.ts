import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import type cassandra from "cassandra-driver"
import { Effect } from "effect"
import { StorageError } from "../errors.ts"

/** `cql/NNN_name.cql`, applied in order and recorded in `<keyspace>.schema_migrations`. */
export const defaultMigrationsDir = fileURLToPath(new URL("../../../../cql/", import.meta.url))

export interface Migration {
  readonly version: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

export const loadMigrations = (dir: string): ReadonlyArray<Migration> =>
  readdirSync(dir)
    .flatMap((file) => {
      const match = /^(\d+)_(\w+)\.cql$/.exec(file)
      return match ? [{ file, version: Number(match[1]), name: match[2]! }] : []
    })
    .sort((a, b) => a.version - b.version)
    .map(({ file, version, name }) => ({
      version,
      name,
      statements: splitStatements(readFileSync(`${dir}/${file}`, "utf8"))
    }))

/** The driver runs one statement per call; our CQL files hold no `;` inside strings. */
export const splitStatements = (cql: string): ReadonlyArray<string> =>
  cql
    .split("\n")
    .filter((line) => !line.trim().startsWith("--"))
    .join("\n")
    .split(";")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)

/** Idempotent: every statement is `IF NOT EXISTS` and applied versions are skipped. */
export const migrate = (
  client: cassandra.Client,
  config: { readonly keyspace: string; readonly replication: string },
  dir: string = defaultMigrationsDir
) =>
  Effect.tryPromise({
    try: async () => {
      const ks = config.keyspace
      await client.execute(`CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ${config.replication}`)
      // USE switches every connection of this (migration-only) client to the keyspace.
      await client.execute(`USE ${ks}`)
      await client.execute(
        `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text, applied_at timestamp)`
      )
      const applied = new Set(
        (await client.execute("SELECT version FROM schema_migrations")).rows.map((r) => r.get("version") as number)
      )
      for (const migration of loadMigrations(dir)) {
        if (applied.has(migration.version)) continue
        for (const statement of migration.statements) {
          await client.execute(statement)
        }
        await client.execute(
          "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?) IF NOT EXISTS",
          [migration.version, migration.name, new Date()],
          { prepare: true }
        )
      }
    },
    catch: (cause) => new StorageError({ operation: "cassandra.migrate", cause })
  })
