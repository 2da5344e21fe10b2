/**
 * A room's append written on the server's thread, by a writing connection of its own, while the
 * SQLite worker has nothing to do (`worker-layer.ts`). A trip to the worker costs a structured
 * clone and a wake-up of each thread, more than the write itself: one send at a time, an append
 * in the worker took about 590 µs of CPU and 0.55 ms to its ack, written here 350 µs and 0.28 ms
 * (BENCHMARKS.md, "Appends on the server's thread"). A write of a few rows holds this thread for
 * about 0.1 ms (WAL, `synchronous = NORMAL`: a commit is a write to the WAL, no sync), no longer
 * than the trip it saves. A larger batch, a busy room's group commit, goes to the worker, which
 * writes beside this thread on the other core: that is what a write storm needs (issue 9 §4).
 *
 * The two connections are two writers of one file: SQLite lets one write at a time. Here a busy
 * lock is retried on the event loop, never waited for inside SQLite (`database.ts`). With the
 * worker idle, only its search indexing (below) or another process can hold the lock.
 */
import { Effect, Layer } from "effect"
import { SqliteDatabase } from "./database.ts"
import { SqliteMessages } from "./messages.ts"
import { indexDelayMs, PendingWords } from "./search-pending.ts"

/** The largest batch written here; a larger one goes to the worker. */
export const appendHereMax = 4

/**
 * The words of messages appended here, left pending by their commits, are indexed by the worker:
 * it is told how many, once per `indexDelayMs` (not once per append, which would be the trip
 * saved). A tell that fails (the worker gone) leaves them pending: a search or the next opening
 * indexes them, and so does the worker's closing.
 */
const toldToWorker = (tell: (count: number) => Effect.Effect<unknown, unknown>) =>
  Layer.effect(
    PendingWords,
    Effect.gen(function* () {
      let waiting = 0
      let timer: ReturnType<typeof setTimeout> | undefined
      let closed = false
      const flush = () => {
        timer = undefined
        const count = waiting
        waiting = 0
        Effect.runFork(Effect.ignore(tell(count)))
      }
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          closed = true
          clearTimeout(timer)
        })
      )
      return PendingWords.of({
        added: (count) =>
          Effect.sync(() => {
            if (closed) return
            waiting += count
            if (timer !== undefined) return
            timer = setTimeout(flush, indexDelayMs)
            timer.unref()
          })
      })
    })
  )

/** `Messages` on a writing connection of this thread to the worker's (migrated) file. */
export const appendsHere = (filename: string, tell: (count: number) => Effect.Effect<unknown, unknown>) =>
  SqliteMessages.pipe(
    Layer.provide(toldToWorker(tell)),
    // The worker's checkpointer copies the WAL, as for the worker's own connection.
    Layer.provide(SqliteDatabase.layer(filename, { checkpointedElsewhere: true }))
  )
