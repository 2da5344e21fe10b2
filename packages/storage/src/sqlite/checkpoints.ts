/**
 * WAL checkpoints off the write path. SQLite's automatic checkpoint runs inside the commit that
 * crosses 1,000 WAL pages, copying them into the database file and syncing it: that commit and
 * every write queued behind it wait, which made the slowest 1% of acknowledgements 21-23 ms
 * where the median took 2-3 (BENCHMARKS.md, "SQLite checkpoints"). Here a second connection, on
 * a thread of its own (`checkpoint-worker.ts`), copies the WAL's pages into the database file
 * every `every`, waiting for nobody. The writing connection is opened with
 * `checkpointedElsewhere` and checkpoints itself only at `backstopCheckpointPages`.
 *
 * The WAL file starts over from its beginning only when a write begins with every page of it
 * copied. Under writes that never pause, some commit always lands while this thread copies, so
 * the file grows until the writer's backstop checkpoint (with little left to copy by then, but
 * a sync) lets it start over: at most 64 MiB of WAL, one sync in the write path per 16,384
 * pages instead of per 1,000. When writes pause for a moment, it starts over at the next one.
 */
import { statSync } from "node:fs"
import { Worker } from "node:worker_threads"
import { Clock, Data, Deferred, Effect, Exit, FiberSet, Metric, Schedule } from "effect"

/** How often the checkpointer runs while the database is open. */
const checkpointEveryMs = 500

const walBytes = Metric.gauge("parley_sqlite_wal_bytes", {
  description: "size of the SQLite write-ahead log file in bytes (sampled every 5 s); the writer's backstop is 64 MiB"
})
const restarts = Metric.counter("parley_sqlite_checkpointer_restarts_total", {
  description: "WAL checkpointer threads that died and were started again"
})

class CheckpointerDied extends Data.TaggedError("CheckpointerDied")<{
  readonly exitCode: number
  readonly cause: unknown
}> {}

/**
 * One checkpointer thread, from start to death: fails with why it died. Interrupted (the
 * database closing), it is told to stop, and waited for (at most 5 s, then terminated).
 */
const runThread = (entry: URL, filename: string, runFork: (effect: Effect.Effect<void>) => unknown) =>
  Effect.callback<never, CheckpointerDied>((resume) => {
    let worker: Worker
    try {
      worker = new Worker(entry, { workerData: { filename, everyMs: checkpointEveryMs } })
    } catch (cause) {
      return resume(Effect.fail(new CheckpointerDied({ exitCode: -1, cause })))
    }
    let cause: unknown
    // Node says "exit" once: a thread that has already died is not waited for at the end.
    const exited = Deferred.makeUnsafe<void>()
    worker.once("exit", (exitCode) => {
      Deferred.doneUnsafe(exited, Exit.void)
      resume(Effect.fail(new CheckpointerDied({ exitCode, cause })))
    })
    worker.on("message", (failure: string) =>
      runFork(Effect.logWarning("WAL checkpoints failing; the writer checkpoints at its backstop", failure))
    )
    worker.on("error", (error) => {
      cause = error
    })
    return Effect.suspend(() => {
      worker.postMessage("stop")
      return Deferred.await(exited)
    }).pipe(
      Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.promise(() => worker.terminate()) }),
      Effect.asVoid
    )
  })

/** Between a thread's death and its replacement: 1 s, doubling while they keep dying, at most 30 s. */
const firstRestartMs = 1000
const maxRestartMs = 30_000
/** A thread that ran this long was healthy: the next death waits the first delay again. */
const healthyAfterMs = 60_000

/**
 * Starts the checkpointer of `filename` for the current scope, and starts it again whenever
 * its thread dies (meanwhile the writer checkpoints at its backstop); it stops (and closes its
 * connection) with the scope. The WAL file's size is sampled for `/metrics` meanwhile. `entry`
 * and `firstRestartMs` are for tests.
 */
export const checkpointInBackground = (
  filename: string,
  options: { readonly entry?: URL; readonly firstRestartMs?: number } = {}
) =>
  Effect.gen(function* () {
    const entry = options.entry ?? new URL("./checkpoint-worker.ts", import.meta.url)
    const first = options.firstRestartMs ?? firstRestartMs
    const runFork = yield* FiberSet.makeRuntime()
    let delay = first
    const lifetime = Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      const died = yield* Effect.flip(runThread(entry, filename, runFork))
      const lived = (yield* Clock.currentTimeMillis) - started
      delay = lived >= healthyAfterMs ? first : delay
      yield* Effect.logError(`the WAL checkpointer stopped; starting it again in ${delay} ms`, died)
      yield* Metric.update(restarts, 1)
      yield* Effect.sleep(delay)
      delay = Math.min(delay * 2, maxRestartMs)
    })
    yield* Effect.forkScoped(Effect.forever(lifetime))
    const sampleWal = Effect.suspend(() =>
      Metric.update(walBytes, statSync(`${filename}-wal`, { throwIfNoEntry: false })?.size ?? 0)
    )
    yield* sampleWal.pipe(Effect.repeat(Schedule.spaced("5 seconds")), Effect.forkScoped)
  })
