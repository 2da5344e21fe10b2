/**
 * The WAL checkpointer's thread (started by `checkpoints.ts`): its own connection to the file,
 * copying committed pages from the WAL into the database file and syncing it, so that no write
 * waits for that. PASSIVE never waits for a reader or writer; pages it cannot copy yet (a
 * reader still needs them) are copied by a later round. The parent hears only of a round that
 * fails after one that did not, so a lasting failure is reported once.
 */
import { DatabaseSync } from "node:sqlite"
import { parentPort, workerData } from "node:worker_threads"

const { filename, everyMs } = workerData as { readonly filename: string; readonly everyMs: number }
const port = parentPort!
const db = new DatabaseSync(filename)
db.exec("PRAGMA busy_timeout = 0")
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)")

let failing = false
const round = () => {
  try {
    checkpoint.get()
    failing = false
  } catch (error) {
    if (!failing) port.postMessage(String(error))
    failing = true
  }
}
const timer = setInterval(round, everyMs)
port.on("message", () => {
  clearInterval(timer)
  db.close()
  port.close()
})
