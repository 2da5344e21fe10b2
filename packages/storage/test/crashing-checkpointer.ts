/**
 * A stand-in for `src/sqlite/checkpoint-worker.ts` that notes each start (a line in
 * `<filename>.starts`) and then dies, as a crash of the checkpointer's thread would.
 */
import { appendFileSync } from "node:fs"
import { workerData } from "node:worker_threads"

const { filename } = workerData as { readonly filename: string }
appendFileSync(`${filename}.starts`, "started\n")
throw new Error("checkpointer crashed")
