/**
 * WAL checkpoints off the write path. SQLite's automatic checkpoint runs inside the commit that
 * crosses 1,000 WAL pages, copying them into the database file and syncing it: that commit and
 * every write queued behind it wait, which made the slowest 1% of acknowledgements 18-20 ms
 * where the rest took 2 (BENCHMARKS.md, "SQLite checkpoints"). Here a second connection, on a
 * thread of its own (`checkpoint-worker.ts`), checkpoints every `every`; the writing
 * connection is opened with `checkpointedElsewhere` and checkpoints only if this one stops
 * keeping up (`backstopCheckpointPages`).
 */
import { Worker } from "node:worker_threads"
import { Duration, Effect, FiberSet } from "effect"

type Round =
  | { readonly type: "round"; readonly busy: number; readonly log: number; readonly checkpointed: number }
  | { readonly type: "error"; readonly message: string }

/** How often the checkpointer runs while the database is open. */
export const checkpointEvery = Duration.millis(500)

/** Starts the checkpointer of `filename` for the current scope; it stops (and closes its connection) with it. */
export const checkpointInBackground = (filename: string, every: Duration.Input = checkpointEvery) =>
  Effect.gen(function* () {
    const runFork = yield* FiberSet.makeRuntime()
    const worker = new Worker(new URL("./checkpoint-worker.ts", import.meta.url), {
      workerData: { filename, everyMs: Duration.toMillis(Duration.fromInputUnsafe(every)) }
    })
    let failing = false
    worker.on("message", (round: Round) => {
      // One warning when rounds start failing, not one every round.
      if (round.type === "error" && !failing) {
        runFork(Effect.logWarning("WAL checkpoint failed; the writer checkpoints past its backstop", round.message))
      }
      failing = round.type === "error"
    })
    worker.on("error", (cause) =>
      runFork(Effect.logError("the WAL checkpointer stopped; the writer checkpoints past its backstop", cause))
    )
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        worker.once("exit", () => resume(Effect.void))
        worker.postMessage("stop")
      }).pipe(
        Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.promise(() => worker.terminate()) }),
        Effect.asVoid
      )
    )
  })
