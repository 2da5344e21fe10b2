/**
 * The WAL checkpointer's thread (started by `checkpoints.ts`): its own connection to the file,
 * copying committed pages from the WAL into the database file and syncing it, so that no write
 * waits for that. PASSIVE never waits for a reader or writer; pages it cannot copy yet (a
 * reader still needs them) are copied by a later round. Each round's result goes to the parent.
 */
import { DatabaseSync } from "node:sqlite"
import { parentPort, workerData } from "node:worker_threads"

const { filename, everyMs } = workerData as { readonly filename: string; readonly everyMs: number }
const port = parentPort!
const db = new DatabaseSync(filename)
db.exec("PRAGMA busy_timeout = 0")
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)")

const round = () => {
  try {
    const { busy, log, checkpointed } = checkpoint.get() as { busy: number; log: number; checkpointed: number }
    port.postMessage({ type: "round", busy, log, checkpointed })
  } catch (error) {
    port.postMessage({ type: "error", message: String(error) })
  }
}
const timer = setInterval(round, everyMs)
port.on("message", () => {
  clearInterval(timer)
  db.close()
  port.close()
})
