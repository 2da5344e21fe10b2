/**
 * Memory per idle authenticated WebSocket: a Parley server on SQLite (with --inspect, so this
 * script can force a GC and take heap snapshots), N sockets over a few hundred users opened
 * by a separate client process, RSS (/proc) and V8 heap after GC before and after, then the
 * per-socket breakdown of the heap by class and by owner (heap-breakdown.ts).
 *
 *   node apps/server/bench/profile/idle-memory.ts [--sockets 5000] [--users 250] [--room] [--no-snapshot] [--out dir]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { createRoom, kib, makeAccounts, rssAnonBytes, rssBytes, sleep, startClients, startServer } from "./harness.ts"
import { compare, defaultOwners, render } from "./heap-breakdown.ts"
import { connectInspector } from "./inspector.ts"

const { values } = parseArgs({
  options: {
    sockets: { type: "string", default: "5000" },
    users: { type: "string", default: "250" },
    room: { type: "boolean", default: false },
    "no-snapshot": { type: "boolean", default: false },
    out: { type: "string", default: join(tmpdir(), "parley-profile") }
  }
})
const sockets = Number(values.sockets)
const out = values.out!
mkdirSync(out, { recursive: true })

// A fixed mmap threshold: large malloc blocks (argon2's 19 MiB per sign-up) are unmapped when freed instead of
// staying in the heap until glibc trims it at some later point, which moved RSS by ±100 MB during the run.
const server = await startServer({ inspect: true, env: { MALLOC_MMAP_THRESHOLD_: "131072" } })
const clients = startClients()
try {
  const inspector = await connectInspector(server.inspectPort!, { debugger: !values["no-snapshot"] })
  const accounts = await makeAccounts(server, Number(values.users))
  const roomId = values.room ? await createRoom(server, accounts[0]!) : null
  const tokens = accounts.map((a) => a.token)
  // Warm-up: the code paths of an upgrade are compiled and lazily built state exists before the baseline.
  await clients.call({ cmd: "open", url: server.wsUrl, tokens, count: 100, roomId, concurrency: 20 })
  await clients.call({ cmd: "closeAll" })
  await sleep(2000)

  const measure = async (label: string) => {
    await inspector.gc()
    await sleep(500)
    await inspector.gc()
    const usage = await inspector.memoryUsage()
    const rss = rssBytes(server.pid)
    const rssAnon = rssAnonBytes(server.pid)
    let snapshot: string | null = null
    if (!values["no-snapshot"]) {
      snapshot = join(out, `idle-${label}.heapsnapshot`)
      await inspector.heapSnapshot(snapshot)
      writeFileSync(join(out, "scripts.json"), JSON.stringify(inspector.scripts()))
    }
    return {
      rss,
      rssAnon,
      heapUsed: usage.heapUsed,
      heapTotal: usage.heapTotal,
      external: usage.external,
      arrayBuffers: usage.arrayBuffers,
      snapshot
    }
  }
  const base = await measure("0")
  // Without snapshots, in two halves: the second half's RSS slope is not moved by what the allocator gives back
  // meanwhile (argon2's 19 MiB buffers from the sign-ups are trimmed at unpredictable times).
  const halves = values["no-snapshot"] ? 2 : 1
  let mid: Awaited<ReturnType<typeof measure>> | null = null
  const opened = { opened: 0, failed: 0, ms: 0 }
  for (let half = 0; half < halves; half++) {
    const count = Math.floor(sockets / halves)
    const step = await clients.call({ cmd: "open", url: server.wsUrl, tokens, count, roomId, concurrency: 50 })
    opened.opened += step.opened
    opened.failed += step.failed
    opened.ms += step.ms
    await sleep(3000)
    if (half < halves - 1) mid = await measure(String(opened.opened))
  }
  const loaded = await measure(String(sockets))
  const stats = await clients.call({ cmd: "stats" })
  const per = (a: number, b: number) => (b - a) / opened.opened
  const summary = {
    sockets: opened.opened,
    failed: opened.failed,
    connectsPerSecond: Math.round((opened.opened / opened.ms) * 1000),
    openOnClient: stats.open,
    rssPerSocket: per(base.rss, loaded.rss),
    rssAnonPerSocket: per(base.rssAnon, loaded.rssAnon),
    rssSlopeSecondHalf: mid === null ? null : (loaded.rss - mid.rss) / (opened.opened - Math.floor(sockets / halves)),
    rssAnonSlopeSecondHalf:
      mid === null ? null : (loaded.rssAnon - mid.rssAnon) / (opened.opened - Math.floor(sockets / halves)),
    heapUsedPerSocket: per(base.heapUsed, loaded.heapUsed),
    heapTotalPerSocket: per(base.heapTotal, loaded.heapTotal),
    externalPerSocket: per(base.external, loaded.external),
    base,
    mid,
    loaded
  }
  console.log(
    `${opened.opened} idle sockets${roomId ? " in one room" : ""} (${opened.failed} failed, ${summary.connectsPerSecond} connects/s): ` +
      `RSS ${kib(summary.rssPerSocket)}/socket${summary.rssSlopeSecondHalf === null ? "" : ` (second half: ${kib(summary.rssSlopeSecondHalf)})`}, ` +
      `anonymous RSS ${kib(summary.rssAnonPerSocket)}/socket${summary.rssAnonSlopeSecondHalf === null ? "" : ` (second half: ${kib(summary.rssAnonSlopeSecondHalf)})`}, V8 heap used ${kib(summary.heapUsedPerSocket)}/socket ` +
      `(committed ${kib(summary.heapTotalPerSocket)}), ` +
      `external ${kib(summary.externalPerSocket)}/socket`
  )
  writeFileSync(
    join(out, `idle-summary-${sockets}${values["no-snapshot"] ? "" : "-snapshot"}.json`),
    JSON.stringify(summary, null, 2)
  )
  inspector.close()
  if (base.snapshot && loaded.snapshot) {
    await clients.call({ cmd: "close" }).catch(() => undefined)
    await server.stop()
    const scripts = JSON.parse(readFileSync(join(out, "scripts.json"), "utf8"))
    const table = render(compare(base.snapshot, loaded.snapshot, opened.opened, defaultOwners, scripts))
    writeFileSync(join(out, `idle-breakdown-${sockets}.md`), table)
    console.log(table)
  }
} finally {
  clients.kill()
  await server.stop()
}
