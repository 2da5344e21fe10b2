/**
 * The SQLite file as another process may find it: locked (an admin tool, a backup) or with loose
 * permissions. A locked database must never freeze the event loop (the wait is an Effect retry,
 * not SQLite's synchronous busy handler), and the files holding password hashes and session
 * tokens are the owner's alone.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { SqliteDatabase, tighten } from "../src/sqlite/database.ts"

const mode = (path: string) => statSync(path).mode & 0o777

/** A fresh folder for one test, removed when it ends. */
const folder = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "parley-sqlite-locks-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Another connection holding the write lock, as another process would, until `release`. */
const holdLock = (filename: string) => {
  const other = new DatabaseSync(filename)
  other.exec("BEGIN IMMEDIATE")
  return () => {
    other.exec("ROLLBACK")
    other.close()
  }
}

const insert = Effect.flatMap(SqliteDatabase, (db) =>
  db.run("test.insert", "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", 9999, "t", 0)
)

describe("sqlite: a database locked by another connection", () => {
  it.live("a write waits for the lock without blocking the event loop, then succeeds once it is released", () =>
    Effect.gen(function* () {
      const filename = join(yield* folder, "parley.db")
      const db = yield* Layer.build(SqliteDatabase.layer(filename, { busyTimeout: "30 seconds" }))
      const release = holdLock(filename)
      const write = yield* Effect.forkChild(Effect.provideContext(insert, db))
      // A synchronous busy wait would have finished (failed) before this fiber ran again.
      yield* Effect.yieldNow
      yield* Effect.sleep("20 millis")
      assert.isUndefined(write.pollUnsafe(), "the write waits for the lock")
      // Released from this same thread: only possible while the event loop is free.
      release()
      assert.strictEqual(yield* Fiber.join(write), 1)
    }).pipe(Effect.scoped)
  )

  it.live("a write still locked out after busyTimeout fails with StorageError (503), reads go on", () =>
    Effect.gen(function* () {
      const filename = join(yield* folder, "parley.db")
      const db = yield* Layer.build(SqliteDatabase.layer(filename, { busyTimeout: "100 millis" }))
      const release = holdLock(filename)
      const exit = yield* Effect.exit(Effect.provideContext(insert, db))
      const read = yield* Effect.provideContext(
        Effect.flatMap(SqliteDatabase, (sqlite) =>
          sqlite.get<{ n: number }>("test.count", "SELECT count(*) AS n FROM schema_migrations")
        ),
        db
      )
      release()
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(String(exit.cause), "StorageError")
      assert.isAbove(read!.n, 0)
    }).pipe(Effect.scoped)
  )

  it.effect(
    "once a write has waited out busyTimeout, the next fails at once; a free lock lets one through at once",
    () =>
      Effect.gen(function* () {
        const filename = join(yield* folder, "parley.db")
        const db = yield* Layer.build(SqliteDatabase.layer(filename, { busyTimeout: "100 millis" }))
        const write = Effect.provideContext(insert, db)
        const release = holdLock(filename)
        const first = yield* Effect.forkChild(Effect.exit(write))
        // Past busyTimeout, within the breaker's 500 ms.
        yield* TestClock.adjust("150 millis")
        assert.isTrue(Exit.isFailure(yield* Fiber.join(first)))
        // The breaker is open: no retries, no wait on the clock.
        const second = yield* Effect.forkChild(Effect.exit(write))
        yield* Effect.yieldNow
        const refused = second.pollUnsafe()
        assert.isDefined(refused, "the second write is answered without waiting")
        assert.isTrue(refused !== undefined && Exit.isSuccess(refused) && Exit.isFailure(refused.value))
        // The lock is free again: the first try of a write goes through, breaker or not.
        release()
        const third = yield* Effect.forkChild(write)
        yield* Effect.yieldNow
        assert.deepStrictEqual(third.pollUnsafe(), Exit.succeed(1))
      }).pipe(Effect.scoped)
  )
})

describe("sqlite: file permissions", () => {
  it.live("a new data folder is created 0700 and the database 0600", () =>
    Effect.gen(function* () {
      const dir = join(yield* folder, "data", "nested")
      const filename = join(dir, "parley.db")
      yield* Layer.build(SqliteDatabase.layer(filename))
      assert.strictEqual(mode(dir), 0o700)
      assert.strictEqual(mode(filename), 0o600)
      for (const suffix of ["-wal", "-shm"]) {
        if (existsSync(filename + suffix)) assert.strictEqual(mode(filename + suffix), 0o600)
      }
    }).pipe(Effect.scoped)
  )

  it.live("modes this process may not change (a volume it does not own) are left and reported, not fatal", () =>
    Effect.gen(function* () {
      const dir = join(yield* folder, "data")
      mkdirSync(dir)
      chmodSync(dir, 0o755)
      const filename = join(dir, "parley.db")
      new DatabaseSync(filename).close()
      chmodSync(filename, 0o644)
      // As root every chmod succeeds, so the refusal is the one a non-owner gets.
      const notOwner = () => {
        throw Object.assign(new Error("operation not permitted"), { code: "EPERM" })
      }
      const refused = tighten(filename, notOwner)
      assert.deepStrictEqual(
        refused.map((r) => r.split(" ")[0]),
        [dir, filename]
      )
      assert.strictEqual(mode(dir), 0o755)
      assert.strictEqual(mode(filename), 0o644)
      // Any other failure still stops the start.
      assert.throws(() =>
        tighten(filename, () => {
          throw Object.assign(new Error("i/o error"), { code: "EIO" })
        })
      )
    }).pipe(Effect.scoped)
  )

  it.live("a folder and database left readable by others are tightened", () =>
    Effect.gen(function* () {
      const dir = join(yield* folder, "data")
      mkdirSync(dir)
      chmodSync(dir, 0o755)
      const filename = join(dir, "parley.db")
      new DatabaseSync(filename).close()
      chmodSync(filename, 0o644)
      yield* Layer.build(SqliteDatabase.layer(filename))
      assert.strictEqual(mode(dir), 0o700)
      assert.strictEqual(mode(filename), 0o600)
      for (const suffix of ["-wal", "-shm"]) {
        if (existsSync(filename + suffix)) assert.strictEqual(mode(filename + suffix), 0o600)
      }
    }).pipe(Effect.scoped)
  )
})
