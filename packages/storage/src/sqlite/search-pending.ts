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

/**
 * Once this many messages wait, their words are indexed at once, not after `indexDelayMs`: a
 * larger batch holds the writer longer. (The worker indexes every pending message, those it was
 * told of and those the server's thread was, so a batch may reach about twice this.)
 */
export const indexBatchMax = 512

/**
 * Runs `flush` together for what is added: `indexDelayMs` after the first count, or at once when
 * `indexBatchMax` have been added. The timer never keeps a process alive; once `close`d, nothing
 * more is scheduled.
 */
export const batchedSoon = (flush: () => void) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  let waiting = 0
  let closed = false
  const reset = () => {
    clearTimeout(timer)
    timer = undefined
    waiting = 0
  }
  return {
    add: (count: number) => {
      if (closed) return
      waiting += count
      // A busy room's words go in batches of a bounded size: each one holds the writer that long.
      if (waiting >= indexBatchMax) clearTimeout(timer)
      else if (timer !== undefined) return
      timer = setTimeout(
        () => {
          reset()
          flush()
        },
        waiting >= indexBatchMax ? 0 : indexDelayMs
      )
      timer.unref()
    },
    /** What was waiting is being flushed by other means. */
    reset,
    close: () => {
      closed = true
      reset()
    }
  }
}

/** Where an append's new messages' words go once it has committed them pending. */
export class PendingWords extends Context.Service<
  PendingWords,
  {
    /** `count` more messages pending, just committed: indexed soon, with others. */
    readonly added: (count: number) => Effect.Effect<void>
    /** Indexes what is pending now (the worker offers it to the appends of the server's thread). */
    readonly index: Effect.Effect<void>
  }
>()("parley/storage/sqlite/PendingWords") {
  /** Indexed on this connection, `batchedSoon`; whatever is still pending when it closes goes then. */
  static readonly layer = Layer.effect(
    PendingWords,
    Effect.gen(function* () {
      const db = yield* SqliteDatabase
      /** The timer's run, which may be waiting out another process's write lock. */
      let indexing: Fiber.Fiber<void> | undefined
      const soon = batchedSoon(() => {
        indexing = Effect.runFork(indexNow)
      })
      const indexNow = Effect.suspend(() => {
        soon.reset()
        return indexPendingOrLog(db)
      })
      // With nothing pending, `indexNow` is one read.
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          soon.close() // what is pending after this is indexed at the next opening
          return Effect.andThen(indexing === undefined ? Effect.void : Fiber.interrupt(indexing), indexNow)
        })
      )
      return PendingWords.of({ added: (count) => Effect.sync(() => soon.add(count)), index: indexNow })
    })
  )

  /** For a connection that appends nothing (read-only). */
  static readonly none = Layer.succeed(PendingWords, PendingWords.of({ added: () => Effect.void, index: Effect.void }))
}
