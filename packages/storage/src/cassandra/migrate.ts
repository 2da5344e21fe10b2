import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import type cassandra from "cassandra-driver"
import { Effect } from "effect"
import { StorageError } from "../errors.ts"
import { migrationHooks } from "./backfill.ts"

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

/**
 * Schema statements run unprepared (preparing DDL only fills the statement cache) and with a
 * long timeout: a schema change waits for every node to agree, far longer than a query.
 */
const ddl = { prepare: false, readTimeout: 120_000 }

/** Run on a keyspace-less connection, since the keyspace may not exist yet. */
export const createKeyspace = (
  client: cassandra.Client,
  config: { readonly keyspace: string; readonly replication: string }
) =>
  Effect.tryPromise({
    try: () =>
      client.execute(
        `CREATE KEYSPACE IF NOT EXISTS ${config.keyspace} WITH replication = ${config.replication}`,
        [],
        ddl
      ),
    catch: (cause) => new StorageError({ operation: "cassandra.createKeyspace", cause })
  })

/**
 * Code that runs once when a migration version is applied, after its statements and before
 * the version is recorded: a data backfill that CQL alone cannot express. It must be safe to
 * run again (a failed or concurrent start repeats it).
 */
export type MigrationHook = (client: cassandra.Client, keyspace: string) => Promise<void>

/** `ALTER TABLE t ADD c type`: CQL has no portable `IF NOT EXISTS` for it. */
const addColumn = /^ALTER\s+TABLE\s+([a-z_][a-z0-9_]*)\s+ADD\s+([a-z_][a-z0-9_]*)\s/i

const columnExists = async (client: cassandra.Client, keyspace: string, table: string, column: string) =>
  (
    await client.execute(
      "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
      [keyspace, table.toLowerCase(), column.toLowerCase()],
      { prepare: true }
    )
  ).rows.length > 0

/** Runs one statement; an ADD of a column that is already there (a concurrent start) is done. */
const apply = async (client: cassandra.Client, keyspace: string, statement: string) => {
  try {
    await client.execute(statement, [], ddl)
  } catch (error) {
    const add = addColumn.exec(statement)
    if (add === null || !(await columnExists(client, keyspace, add[1]!, add[2]!))) throw error
  }
}

/**
 * Applies pending `cql/` files on a client bound to the keyspace, each followed by its hook.
 * Idempotent: every statement is `IF NOT EXISTS` (or an ADD checked against the schema),
 * hooks may repeat, and applied versions are skipped, so concurrent starts are safe too.
 */
export const migrate = (
  client: cassandra.Client,
  keyspace: string,
  dir: string = defaultMigrationsDir,
  hooks: ReadonlyMap<number, MigrationHook> = migrationHooks
) =>
  Effect.tryPromise({
    try: async () => {
      const table = `${keyspace}.schema_migrations`
      await client.execute(
        `CREATE TABLE IF NOT EXISTS ${table} (version int PRIMARY KEY, name text, applied_at timestamp)`,
        [],
        ddl
      )
      const applied = new Set(
        (await client.execute(`SELECT version FROM ${table}`, [], ddl)).rows.map((r) => r.get("version") as number)
      )
      for (const migration of loadMigrations(dir)) {
        if (applied.has(migration.version)) continue
        for (const statement of migration.statements) {
          await apply(client, keyspace, statement)
        }
        await hooks.get(migration.version)?.(client, keyspace)
        await client.execute(
          `INSERT INTO ${table} (version, name, applied_at) VALUES (?, ?, ?) IF NOT EXISTS`,
          [migration.version, migration.name, new Date()],
          { prepare: true }
        )
      }
    },
    catch: (cause) => new StorageError({ operation: "cassandra.migrate", cause })
  })
