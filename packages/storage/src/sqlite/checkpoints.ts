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
import { Worker } from "node:worker_threads"
import { Deferred, Effect, Exit, FiberSet } from "effect"

/** How often the checkpointer runs while the database is open. */
const checkpointEveryMs = 500

/** Starts the checkpointer of `filename` for the current scope; it stops (and closes its connection) with it. */
export const checkpointInBackground = (filename: string) =>
  Effect.gen(function* () {
    const runFork = yield* FiberSet.makeRuntime()
    const worker = new Worker(new URL("./checkpoint-worker.ts", import.meta.url), {
      workerData: { filename, everyMs: checkpointEveryMs }
    })
    // Node says "exit" once: a thread that has already died is not waited for at the end.
    const exited = Deferred.makeUnsafe<void>()
    worker.once("exit", () => Deferred.doneUnsafe(exited, Exit.void))
    worker.on("message", (failure: string) =>
      runFork(Effect.logWarning("WAL checkpoints failing; the writer checkpoints at its backstop", failure))
    )
    worker.on("error", (cause) =>
      runFork(Effect.logError("the WAL checkpointer stopped; the writer checkpoints at its backstop", cause))
    )
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        worker.postMessage("stop")
        return Deferred.await(exited)
      }).pipe(
        Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.promise(() => worker.terminate()) }),
        Effect.asVoid
      )
    )
  })
