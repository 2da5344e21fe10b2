/**
 * New messages' words reach SQLite's search index after their commit, many at a time
 * (`sqlite/search-pending.ts`): a search still finds every stored message, the pending ones are
 * indexed a moment later without one, and what a process left pending is indexed when the
 * database opens again. On a file, in this thread.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { MessageSearch, Messages, SqliteStorage, type StorageError } from "../src/index.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { newMessage, newRoom, newUserId } from "./fixtures.ts"

const dir = mkdtempSync(join(tmpdir(), "parley-search-pending-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const roomId = newRoom(newUserId()).id
const message = (seq: number, text: string) => newMessage(roomId, seq, text)

/** Reads the file as another connection would. */
const peek = <A>(file: string, read: (db: DatabaseSync) => A): A => {
  const db = new DatabaseSync(file)
  try {
    return read(db)
  } finally {
    db.close()
  }
}
const pending = (file: string) =>
  peek(file, (db) => (db.prepare("SELECT count(*) AS n FROM message_search_pending").get() as { n: number }).n)

const found = (word: string) =>
  Effect.flatMap(MessageSearch, (search) => search.search({ rooms: [roomId], terms: [word], before: null, limit: 10 }))

const withStorage = <A, E>(
  file: string,
  body: Effect.Effect<A, E, Messages | MessageSearch>,
  storage: (file: string) => Layer.Layer<Messages | MessageSearch, StorageError> = SqliteStorage.layer
) => Effect.scoped(Layer.build(storage(file)).pipe(Effect.flatMap((context) => Effect.provide(body, context))))

/**
 * In this thread, and behind the worker, whose server-side appends (`appends-here.ts`) leave
 * their words for the worker to index.
 */
const storages = [
  ["in this thread", SqliteStorage.layer],
  ["behind the worker", SqliteStorage.layerWorker]
] as const

describe("sqlite: search words indexed after the commit", () => {
  it.live.each(storages)(
    "%s: a search right after the append finds the message; without one it is indexed a moment later",
    ([name, storage]) =>
      Effect.gen(function* () {
        const file = join(dir, `soon ${name}.db`)
        yield* withStorage(
          file,
          Effect.gen(function* () {
            const messages = yield* Messages
            yield* appendAsOwner(messages, roomId, [message(1, "quokka one")])
            assert.strictEqual(pending(file), 1, "waits in the pending list after its commit")
            assert.deepStrictEqual(
              (yield* found("quokka")).map((m) => m.text),
              ["quokka one"]
            )
            assert.strictEqual(pending(file), 0, "the search indexed it first")

            // One at a time: behind the worker, written on the server's thread, whose words only
            // the worker's indexing (asked by that thread) takes in.
            yield* appendAsOwner(messages, roomId, [message(2, "wombat two")])
            yield* appendAsOwner(messages, roomId, [message(3, "wombat three")])
            // No search: the pending list empties on its own, shortly.
            yield* Effect.sync(() => pending(file)).pipe(
              Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (n) => n === 0, times: 100 })
            )
            assert.strictEqual(pending(file), 0)
            const indexed = peek(
              file,
              (db) =>
                (
                  db.prepare("SELECT count(*) AS n FROM message_search WHERE message_search MATCH 'wombat'").get() as {
                    n: number
                  }
                ).n
            )
            assert.strictEqual(indexed, 2)
          }),
          storage
        )
      })
  )

  it.live("what a stopped process left pending is indexed when the database opens", () =>
    Effect.gen(function* () {
      const file = join(dir, "restart.db")
      yield* withStorage(
        file,
        Effect.flatMap(Messages, (messages) => appendAsOwner(messages, roomId, [message(1, "platypus")]))
      )
      // As if the process had died before indexing it: stored, not in the index, pending.
      peek(file, (db) => {
        const { doc } = db.prepare("SELECT doc FROM message_search_docs").get() as { doc: number }
        db.prepare("DELETE FROM message_search WHERE rowid = ?").run(doc)
        db.prepare("INSERT INTO message_search_pending (doc) VALUES (?)").run(doc)
      })
      yield* withStorage(
        file,
        Effect.gen(function* () {
          assert.strictEqual(pending(file), 0, "indexed as the database opened")
          assert.deepStrictEqual(
            (yield* found("platypus")).map((m) => m.text),
            ["platypus"]
          )
        })
      )
    })
  )

  it.live("a search while another process holds the write lock answers from the index; the new words wait", () =>
    Effect.gen(function* () {
      const file = join(dir, "locked.db")
      yield* withStorage(
        file,
        Effect.gen(function* () {
          const messages = yield* Messages
          yield* appendAsOwner(messages, roomId, [message(1, "koala first")])
          assert.deepStrictEqual(
            (yield* found("koala")).map((m) => m.text),
            ["koala first"]
          )
          yield* appendAsOwner(messages, roomId, [message(2, "koala second")])
          const other = new DatabaseSync(file)
          other.exec("BEGIN IMMEDIATE")
          const answered = yield* found("koala").pipe(Effect.ensuring(Effect.sync(() => other.close())))
          assert.deepStrictEqual(
            answered.map((m) => m.text),
            ["koala first"]
          )
          assert.deepStrictEqual(
            (yield* found("koala")).map((m) => m.text),
            ["koala second", "koala first"]
          )
        })
      )
    })
  )
})
