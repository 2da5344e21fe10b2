/**
 * A room's append of one short new message, written on the server's thread by a writing
 * connection of its own while no call of this thread waits on the SQLite worker
 * (`worker-layer.ts`). A trip to the worker costs a structured clone and a wake-up of each
 * thread, more than a one-row write: at one send in flight, through the worker, a send took
 * 652-664 µs of server CPU and 0.59-0.60 ms to its ack; written here, 411-439 µs and 0.33-0.35 ms
 * (BENCHMARKS.md, "One send written on the server's thread"). The write itself holds this thread
 * about 0.1 ms (a one-message append's body, measured in the worker: "SQLite checkpoints off the
 * write path"; under WAL with `synchronous = NORMAL` a commit writes the WAL and syncs nothing).
 * The rest goes to the worker, on the other core:
 * - a batch of more than one (a busy room's group commit): under load the worker's trips carry
 *   many calls each, and the server's thread needs its time for the sockets (with batches of up
 *   to 4 here, a storm of 10 senders over 8 rooms was acknowledged 10% less);
 * - a long text: more WAL pages written on the event loop;
 * - an edit or a delete: its triggers write the search index, where a merge takes 13-27 ms now
 *   and then (`search-pending.ts`);
 * - an append that finds the write lock held (by the worker's indexing or another process): it
 *   is not retried here, where every room's retries would share the event loop, but sent to the
 *   worker, having written nothing.
 * This connection never checkpoints the WAL either (`besideWorker`).
 */
import { Effect, Layer } from "effect"
import type { MessageRecord } from "../messages.ts"
import { SqliteDatabase } from "./database.ts"
import { SqliteMessages } from "./messages.ts"
import { batchedSoon, PendingWords } from "./search-pending.ts"

/** The most messages, and the most characters (UTF-16 units) of text in all, of a batch written here. */
export const appendHereMax = { messages: 1, chars: 4096 } as const

/** Whether a batch is one the server's thread may write (given the worker idle). */
export const smallEnoughHere = (batch: ReadonlyArray<MessageRecord>) => {
  if (batch.length > appendHereMax.messages) return false
  let chars = 0
  for (const m of batch) {
    if (m.kind !== "message") return false
    chars += m.text.length
  }
  return chars <= appendHereMax.chars
}

/**
 * The words of messages appended here, left pending by their commits, are indexed by the worker:
 * asked to index, together, `indexDelayMs` after the first or once `indexBatchMax` wait (not once
 * per append, which would be the trip saved). A request that fails (the worker gone) leaves them
 * pending: a search or the next opening indexes them, and so does the worker's closing.
 */
const indexedByWorker = (workerIndex: Effect.Effect<unknown, unknown>) =>
  Layer.effect(
    PendingWords,
    Effect.gen(function* () {
      const index = Effect.ignore(workerIndex)
      const soon = batchedSoon(() => Effect.runFork(index))
      yield* Effect.addFinalizer(() => Effect.sync(soon.close))
      return PendingWords.of({ added: (count) => Effect.sync(() => soon.add(count)), index })
    })
  )

/** `Messages` on a writing connection of this thread to the worker's (migrated) file. */
export const appendsHere = (filename: string, workerIndex: Effect.Effect<unknown, unknown>) =>
  SqliteMessages.pipe(
    Layer.provide(indexedByWorker(workerIndex)),
    Layer.provide(SqliteDatabase.layer(filename, { besideWorker: true }))
  )
