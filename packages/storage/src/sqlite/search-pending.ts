/**
 * Messages whose words are not in the search index yet (migration 11): an append records each
 * new message's document in `message_search_pending`, in its own transaction, and its words go
 * into the FTS5 index later, many messages in one transaction. FTS5 writes one segment per
 * transaction and merges segments inside the commit that crosses a threshold; indexed one send
 * at a time, a large index made one commit in 64 or so take 13-27 ms (BENCHMARKS.md). Search
 * indexes what is pending before it reads, so it finds every stored message all the same, and
 * opening the database indexes what a stopped process left pending.
 */
import { Context, Effect, Fiber, Layer } from "effect"
import { SqliteDatabase } from "./database.ts"

// CROSS JOIN keeps the pending list outside: with a plain JOIN the planner scanned every message.
const indexPendingWords = `
  INSERT INTO message_search (rowid, content)
  SELECT d.doc, m.content FROM message_search_pending p
  CROSS JOIN message_search_docs d CROSS JOIN room_messages m
  WHERE d.doc = p.doc AND m.room_id = d.room_id AND m.msg_key = d.msg_key`

/**
 * Indexes every pending message's words, in one transaction. With nothing pending it only reads:
 * no write lock is taken (a search while another process holds it goes on).
 */
export const indexPending = (db: SqliteDatabase["Service"]) =>
  Effect.flatMap(db.get("search.pending", "SELECT 1 AS pending FROM message_search_pending LIMIT 1"), (row) =>
    row === undefined
      ? Effect.void
      : db.transaction("search.index", (tx) => {
          tx.prepare(indexPendingWords).run()
          tx.prepare("DELETE FROM message_search_pending").run()
        })
  )

/**
 * The same, for a caller that goes on when it fails (a search, a database opening): the words
 * stay pending, for the next try, and are logged as such.
 */
export const indexPendingOrLog = (db: SqliteDatabase["Service"]) =>
  indexPending(db).pipe(
    Effect.catchCause((cause) => Effect.logWarning("search index update failed; the words stay pending", cause))
  )

/** How long new messages wait to be indexed together: one FTS5 segment per this, not per send. */
export const indexDelayMs = 200

/** Messages indexed together at most, once that many wait: a larger batch holds the writer longer. */
export const indexBatchMax = 512

/** What an append says of the messages it left pending, once committed: their words go in soon. */
export class PendingWords extends Context.Service<
  PendingWords,
  { readonly added: (count: number) => Effect.Effect<void> }
>()("parley/storage/sqlite/PendingWords") {
  /**
   * Indexed on this connection, together: `indexDelayMs` after the first, or at once when
   * `indexBatchMax` wait; whatever is still pending when the database closes goes then.
   */
  static readonly layer = Layer.effect(
    PendingWords,
    Effect.gen(function* () {
      const db = yield* SqliteDatabase
      let indexTimer: ReturnType<typeof setTimeout> | undefined
      let unindexed = 0
      let closed = false
      /** The timer's run, which may be waiting out another process's write lock. */
      let indexing: Fiber.Fiber<void> | undefined
      const indexNow = Effect.suspend(() => {
        clearTimeout(indexTimer)
        indexTimer = undefined
        unindexed = 0
        return indexPendingOrLog(db)
      })
      const indexSoon = (added: number) => {
        if (closed) return // what is pending is indexed at the next opening
        unindexed += added
        // A busy room's words go in batches of a bounded size: each one holds the writer that long.
        if (unindexed >= indexBatchMax) clearTimeout(indexTimer)
        else if (indexTimer !== undefined) return
        indexTimer = setTimeout(
          () => {
            indexing = Effect.runFork(indexNow)
          },
          unindexed >= indexBatchMax ? 0 : indexDelayMs
        )
        // Never what keeps a process alive: closing indexes what is pending.
        indexTimer.unref()
      }
      // With nothing pending, `indexNow` is one read.
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          closed = true
          return Effect.andThen(indexing === undefined ? Effect.void : Fiber.interrupt(indexing), indexNow)
        })
      )
      return PendingWords.of({ added: (count) => Effect.sync(() => indexSoon(count)) })
    })
  )
}
