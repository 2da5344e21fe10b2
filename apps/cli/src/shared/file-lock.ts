/**
 * A lock between processes on one config file (`<name>.lock` beside it), for work that must
 * not overlap: spending a refresh token (the server treats a replayed one as theft and ends
 * the session), or a read-modify-write of a file that holds one. Both clients use it:
 * `parley-admin` for admin.json, `parley` for chat.json.
 *
 * The lock file holds its owner's pid. A lock whose owner is gone (killed while holding it)
 * is taken over at once; one older than `staleLockMs` is taken over whoever holds it.
 * Not re-entrant: code holding the lock must not ask for it again.
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs"
import { join } from "node:path"
import { ensureConfigDir } from "./config-file.ts"

/** A lock older than this was left by a process that hung or died holding it. */
const staleLockMs = 30_000
const lockWaitMs = 20_000
const pollMs = 50

const ownerGone = (lock: string): boolean => {
  let pid: number
  try {
    pid = Number.parseInt(readFileSync(lock, "utf8"), 10)
  } catch {
    return false
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    // EPERM: the process exists under another user.
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}

const tryTake = (lock: string): boolean => {
  let fd: number
  try {
    fd = openSync(lock, "wx", 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false
    throw error
  }
  try {
    writeSync(fd, String(process.pid))
  } finally {
    closeSync(fd)
  }
  return true
}

/**
 * Runs `f` while holding the lock of config file `name`; waits up to 20 s for another holder,
 * calling `onBusy` (if given) each time it finds the lock held and goes on waiting.
 */
export const withFileLock = async <A>(
  env: NodeJS.ProcessEnv,
  name: string,
  f: () => Promise<A>,
  onBusy?: () => void
): Promise<A> => {
  const lock = join(ensureConfigDir(env), `${name}.lock`)
  const deadline = Date.now() + lockWaitMs
  while (!tryTake(lock)) {
    const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
    if (age > staleLockMs || ownerGone(lock)) rmSync(lock, { force: true })
    else if (Date.now() > deadline)
      throw new Error(`another parley process holds ${lock}; remove it if none is running`)
    else {
      onBusy?.()
      await new Promise((r) => setTimeout(r, pollMs))
    }
  }
  try {
    return await f()
  } finally {
    rmSync(lock, { force: true })
  }
}
