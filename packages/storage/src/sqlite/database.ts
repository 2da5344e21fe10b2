import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { DatabaseSync, type SQLInputValue } from "node:sqlite"
import { Context, Effect, Layer } from "effect"
import { StorageError } from "../errors.ts"
import { migrations } from "./migrations.ts"

/**
 * One SQLite file opened with `node:sqlite`. Calls are synchronous and short, so they
 * run inline; WAL keeps readers from blocking the writer.
 */
export class SqliteDatabase extends Context.Service<
  SqliteDatabase,
  {
    readonly run: (
      operation: string,
      sql: string,
      ...params: Array<SQLInputValue>
    ) => Effect.Effect<number, StorageError>
    readonly get: <A>(
      operation: string,
      sql: string,
      ...params: Array<SQLInputValue>
    ) => Effect.Effect<A | undefined, StorageError>
    readonly all: <A>(
      operation: string,
      sql: string,
      ...params: Array<SQLInputValue>
    ) => Effect.Effect<Array<A>, StorageError>
    /** Runs `f` inside BEGIN IMMEDIATE … COMMIT, rolling back if it throws. */
    readonly transaction: <A>(operation: string, f: (db: DatabaseSync) => A) => Effect.Effect<A, StorageError>
  }
>()("parley/storage/sqlite/SqliteDatabase") {
  static readonly layer = (filename: string) =>
    Layer.effect(
      SqliteDatabase,
      Effect.gen(function* () {
        const db = yield* Effect.acquireRelease(
          Effect.try({
            try: () => {
              if (filename !== ":memory:") mkdirSync(dirname(filename), { recursive: true })
              const db = new DatabaseSync(filename)
              db.exec(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"
              )
              migrate(db)
              return db
            },
            catch: (cause) => new StorageError({ operation: "sqlite.open", cause })
          }),
          (db) => Effect.sync(() => db.close())
        )
        const statements = new Map<string, ReturnType<DatabaseSync["prepare"]>>()
        const prepare = (sql: string) => {
          let statement = statements.get(sql)
          if (statement === undefined) {
            statement = db.prepare(sql)
            statements.set(sql, statement)
          }
          return statement
        }
        const attempt = <A>(operation: string, f: () => A) =>
          Effect.try({ try: f, catch: (cause) => new StorageError({ operation, cause }) })
        return SqliteDatabase.of({
          run: (operation, sql, ...params) => attempt(operation, () => Number(prepare(sql).run(...params).changes)),
          get: (operation, sql, ...params) => attempt(operation, () => prepare(sql).get(...params) as any),
          all: (operation, sql, ...params) => attempt(operation, () => prepare(sql).all(...params) as any),
          transaction: (operation, f) =>
            attempt(operation, () => {
              db.exec("BEGIN IMMEDIATE")
              try {
                const result = f(db)
                db.exec("COMMIT")
                return result
              } catch (error) {
                db.exec("ROLLBACK")
                throw error
              }
            })
        })
      })
    )
}

const migrate = (db: DatabaseSync) => {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
  )
  const applied = new Set(
    (db.prepare("SELECT version FROM schema_migrations").all() as Array<{ version: number }>).map((r) => r.version)
  )
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue
    db.exec("BEGIN IMMEDIATE")
    try {
      db.exec(migration.sql)
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
        migration.version,
        migration.name,
        Date.now()
      )
      db.exec("COMMIT")
    } catch (error) {
      db.exec("ROLLBACK")
      throw error
    }
  }
}
