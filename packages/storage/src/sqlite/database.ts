import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"
import { Cause, Context, Duration, Effect, Exit, Layer, Schedule } from "effect"
import { CircuitBreaker } from "effect/persistence"
import { StorageError } from "../errors.ts"
import { migrations } from "./migrations.ts"

export interface SqliteOptions {
  /**
   * How long a call retries while another process holds the write lock, before it fails
   * (503 to the user). Default 1.5 seconds.
   */
  readonly busyTimeout?: Duration.Input | undefined
  /**
   * Whether another connection checkpoints the WAL (`checkpoints.ts`). SQLite's own
   * checkpoint runs inside the commit that crosses 1,000 pages and syncs the database file
   * there: that commit, and every write queued behind it, waits. With this set, this connection
   * checkpoints only at `backstopCheckpointPages`: what lets the WAL start over under writes
   * that never pause, and what bounds it should the other connection stop.
   */
  readonly checkpointedElsewhere?: boolean | undefined
  /**
   * Opens an existing, migrated file for reading only (`worker-layer.ts`'s point reads on the
   * server's thread): no migration, no pragma that writes; a write fails with `StorageError`.
   */
  readonly readOnly?: boolean | undefined
  /**
   * A second writer beside the worker's, on the server's thread (`appends-here.ts`): it never
   * checkpoints (the worker's connection keeps the backstop) and never retries a busy lock; a
   * write that finds the lock held fails at once (`isBusy`), having written nothing, for the
   * caller to send it to the worker instead.
   */
  readonly besideWorker?: boolean | undefined
}

/** 64 MiB of WAL at the default 4 KiB page (see `checkpoints.ts` for when the writer gets there). */
export const backstopCheckpointPages = 16_384

/** SQLITE_BUSY and SQLITE_LOCKED, with their extended codes: another connection holds a lock. */
export const isBusy = (error: StorageError) => {
  const code = (error.cause as { errcode?: unknown } | undefined)?.errcode
  return typeof code === "number" && ((code & 0xff) === 5 || (code & 0xff) === 6)
}

/** chmod errors that mean "not yours to change" (a mounted volume, a read-only file system). */
const refusedCodes = new Set(["EPERM", "EACCES", "EROFS"])

/**
 * The data folder (0700) and the database files (0600) are readable by their owner only: they
 * hold password hashes and session tokens. Looser modes left by an older version are tightened.
 * A folder with the sticky bit (a shared one such as /tmp) is never changed. A mode this
 * process may not change (the operator's volume, owned by another user) is left as it is and
 * named in the returned list, for a warning: refusing to start would help no one.
 */
export const tighten = (filename: string, chmod: (path: string, mode: number) => void = chmodSync): Array<string> => {
  const refused: Array<string> = []
  const set = (path: string, mode: number) => {
    try {
      chmod(path, mode)
    } catch (cause) {
      const code = (cause as { code?: unknown } | undefined)?.code
      if (typeof code !== "string" || !refusedCodes.has(code)) throw cause
      refused.push(`${path} (${code}; wanted ${mode.toString(8)})`)
    }
  }
  const dir = dirname(filename)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const mode = statSync(dir).mode
  if ((mode & 0o1000) === 0 && (mode & 0o077) !== 0) set(dir, 0o700)
  const name = basename(filename)
  for (const file of readdirSync(dir)) {
    if (file.startsWith(name) && (statSync(join(dir, file)).mode & 0o077) !== 0) set(join(dir, file), 0o600)
  }
  return refused
}

/**
 * What a transaction's body gets: statements prepared once per connection and reused. Preparing
 * compiles the SQL, and an insert into `room_messages` compiles its full-text triggers with it:
 * measured in the worker, five times the cost of running it.
 */
export interface Transaction {
  readonly prepare: (sql: string) => StatementSync
}

/**
 * One SQLite file opened with `node:sqlite`. Calls are synchronous and short, so they run
 * inline; WAL keeps readers from blocking the writer. They never wait for a lock inside
 * SQLite (`busy_timeout` 0): that wait would be synchronous and freeze the event loop, every
 * socket included, for as long as another process (an admin tool, a backup) holds the lock.
 * A busy call is retried on an Effect schedule instead, the event loop serving everyone else
 * between attempts, and fails with `StorageError` once `busyTimeout` has passed. Reads never
 * wait for a writer (WAL).
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
    readonly transaction: <A>(operation: string, f: (tx: Transaction) => A) => Effect.Effect<A, StorageError>
  }
>()("parley/storage/sqlite/SqliteDatabase") {
  static readonly layer = (filename: string, options: SqliteOptions = {}) =>
    Layer.effect(
      SqliteDatabase,
      Effect.gen(function* () {
        const refused = new Set<string>()
        const db = yield* Effect.acquireRelease(
          Effect.try({
            try: () => {
              // busy_timeout stays 0 (the default): see the class comment.
              if (options.readOnly === true) return new DatabaseSync(filename, { readOnly: true })
              const onDisk = filename !== ":memory:"
              const tightened = () => {
                for (const path of tighten(filename)) refused.add(path)
              }
              if (onDisk) tightened()
              // SQLite gives the -wal and -shm files the mode of the database file.
              if (onDisk && !existsSync(filename)) {
                new DatabaseSync(filename).close()
                tightened()
              }
              const db = new DatabaseSync(filename)
              // Opening may wait for another process's migration: nothing is served yet.
              db.exec(
                "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
              )
              migrate(db)
              db.exec("PRAGMA busy_timeout = 0")
              if (options.besideWorker === true) db.exec("PRAGMA wal_autocheckpoint = 0")
              else if (options.checkpointedElsewhere === true)
                db.exec(`PRAGMA wal_autocheckpoint = ${backstopCheckpointPages}`)
              if (onDisk) tightened()
              return db
            },
            catch: (cause) => new StorageError({ operation: "sqlite.open", cause })
          }),
          (db) => Effect.sync(() => db.close())
        )
        if (refused.size > 0) {
          yield* Effect.logWarning(
            "the database files are readable by others and this process may not change their modes: " +
              "make the data folder 0700 and its files 0600 (they hold password hashes and session tokens)",
            [...refused]
          )
        }
        const statements = new Map<string, StatementSync>()
        const prepare = (sql: string) => {
          let statement = statements.get(sql)
          if (statement === undefined) {
            statement = db.prepare(sql)
            statements.set(sql, statement)
          }
          return statement
        }
        const tx: Transaction = { prepare }
        const whileBusy = Schedule.spaced("5 millis").pipe(
          Schedule.jittered,
          Schedule.upTo({ duration: options.busyTimeout ?? Duration.millis(1500) })
        )
        const retried = <A>(operation: string, f: () => A) =>
          Effect.try({ try: f, catch: (cause) => new StorageError({ operation, cause }) }).pipe(
            Effect.retry({ schedule: whileBusy, while: isBusy })
          )
        // Writes wait in line (a room's sends, one batch after another): once one has waited out
        // the lock, the next fail at once for a moment instead of each waiting `busyTimeout` again.
        const breaker = yield* CircuitBreaker.make({
          tripPolicy: CircuitBreaker.consecutive(1),
          openDuration: Duration.millis(500)
        }).pipe(Effect.provide(CircuitBreaker.layerStoreMemory()))
        const retriedBehindBreaker = <A>(operation: string, f: () => A) =>
          retried(operation, f).pipe(
            breaker.execute({
              key: "sqlite-write",
              classify: (exit) => {
                const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
                return error?._tag === "Some" && isBusy(error.value) ? CircuitBreaker.failure() : CircuitBreaker.success
              }
            }),
            Effect.catchTag("CircuitBreakerError", (cause) => Effect.fail(new StorageError({ operation, cause })))
          )
        // The first try runs at once, outside the schedule and the breaker: with the lock free,
        // the common case, a read then costs half as much and a write 30 µs less. Only a call
        // that found the lock held goes on to them (a busy try changes nothing, so it may repeat).
        const firstTry = <A>(
          operation: string,
          f: () => A,
          slow: (operation: string, f: () => A, busy: StorageError) => Effect.Effect<A, StorageError>
        ): Effect.Effect<A, StorageError> =>
          Effect.suspend(() => {
            try {
              return Effect.succeed(f())
            } catch (cause) {
              const error = new StorageError({ operation, cause })
              return isBusy(error) ? slow(operation, f, error) : Effect.fail(error)
            }
          })
        const attempt = <A>(operation: string, f: () => A) => firstTry(operation, f, retried)
        const write = <A>(operation: string, f: () => A) =>
          firstTry(
            operation,
            f,
            options.besideWorker === true ? (_operation, _f, busy) => Effect.fail(busy) : retriedBehindBreaker
          )
        return SqliteDatabase.of({
          run: (operation, sql, ...params) => write(operation, () => Number(prepare(sql).run(...params).changes)),
          get: (operation, sql, ...params) => attempt(operation, () => prepare(sql).get(...params) as any),
          all: (operation, sql, ...params) => attempt(operation, () => prepare(sql).all(...params) as any),
          transaction: (operation, f) =>
            write(operation, () => {
              db.exec("BEGIN IMMEDIATE")
              try {
                const result = f(tx)
                db.exec("COMMIT")
                return result
              } catch (error) {
                // Some errors (a full disk, an I/O error) end the transaction themselves: a
                // ROLLBACK then would fail and hide the error.
                if (db.isTransaction) db.exec("ROLLBACK")
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
