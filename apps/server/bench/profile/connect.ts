/**
 * Connect cost: server CPU per socket opened, with no room and into one room, then the same
 * joins again under V8's CPU profiler with the top functions, to find where a join's time goes.
 *
 *   node apps/server/bench/profile/connect.ts [--sockets 2000] [--users 20] [--out dir] [--env KEY=VALUE ...]
 */
import { execSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { renderSummary, summarise } from "./cpu-profile.ts"
import { cpuMs, cpuMsByThread, createRoom, makeAccounts, sleep, startClients, startServer } from "./harness.ts"
import { connectInspector } from "./inspector.ts"

const { values } = parseArgs({
  options: {
    sockets: { type: "string", default: "2000" },
    users: { type: "string", default: "20" },
    /** Rounds of each measure (medians are printed): the noise between two runs is often larger than a change. */
    rounds: { type: "string", default: "1" },
    out: { type: "string", default: join(tmpdir(), "parley-profile") },
    env: { type: "string", multiple: true, default: [] },
    "profile-interval-us": { type: "string", default: "200" },
    /**
     * The server's event loop alone on CPU 0; its SQLite worker and the clients on CPU 1. The
     * profiler samples wall time, so a server sharing its core with the clients has their time
     * charged to whatever it was running when it was preempted.
     */
    pin: { type: "boolean", default: false },
    /** Only the measures, without the profiled round. */
    "skip-profile": { type: "boolean", default: false },
    /** Also sample what one more round of joins allocates (garbage included): connect-allocations.json. */
    allocations: { type: "boolean", default: false }
  }
})
const out = values.out
mkdirSync(out, { recursive: true })
const env = Object.fromEntries(values.env.map((kv) => kv.split("=", 2) as [string, string]))
const count = Number(values.sockets)

const server = await startServer({ inspect: true, env: { WS_PING_INTERVAL: "1 hour", ...env } })
const clients = startClients()
if (values.pin) {
  const taskset = (args: string) => execSync(`taskset ${args}`, { stdio: "ignore" })
  taskset(`-a -p -c 1 ${clients.pid}`)
  taskset(`-a -p -c 1 ${server.pid}`)
  taskset(`-p -c 0 ${server.pid}`)
}

/** Until the server's CPU settles (presence windows, GC), so the next step starts clean. */
const settle = async () => {
  for (let last = cpuMs(server.pid); ; ) {
    await sleep(500)
    const now = cpuMs(server.pid)
    if (now - last < 20) return
    last = now
  }
}

// Under the profiler the server never looks idle (sampling costs CPU), so that run does not settle.
const openMany = async (roomId: string | null, settled = true) => {
  if (settled) await settle()
  const cpu0 = cpuMs(server.pid)
  const threads0 = cpuMsByThread(server.pid)
  const result = await clients.call({
    cmd: "open",
    url: server.wsUrl,
    tokens,
    count,
    roomId,
    concurrency: 20,
    raw: true
  })
  if (settled) await settle()
  else await sleep(1000)
  const cpu = cpuMs(server.pid) - cpu0
  const threads = Object.entries(cpuMsByThread(server.pid)).map(
    ([name, ms]) => [name, Math.round(((ms - (threads0[name] ?? 0)) / result.opened) * 1000)] as const
  )
  await clients.call({ cmd: "closeAll" })
  return {
    ...result,
    cpuMsPerSocket: cpu / result.opened,
    perSecond: (result.opened / result.ms) * 1000,
    usPerSocketByThread: Object.fromEntries(threads.filter(([, us]) => us > 0))
  }
}

/** Medians of the numeric fields (per-thread CPU included) of several rounds. */
const medians = (results: ReadonlyArray<Awaited<ReturnType<typeof openMany>>>) => {
  const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const threads = new Set(results.flatMap((r) => Object.keys(r.usPerSocketByThread)))
  return {
    perSecond: Math.round(median(results.map((r) => r.perSecond))),
    cpuUsPerSocket: Math.round(median(results.map((r) => r.cpuMsPerSocket * 1000))),
    usPerSocketByThread: Object.fromEntries(
      [...threads].map((name) => [name, median(results.map((r) => r.usPerSocketByThread[name] ?? 0))])
    )
  }
}

let tokens: Array<string> = []
try {
  const inspector = await connectInspector(server.inspectPort!, { debugger: false })
  const accounts = await makeAccounts(server, Number(values.users))
  tokens = accounts.map((a) => a.token)
  const roomId = await createRoom(server, accounts[0]!)
  const rounds = Number(values.rounds)
  for (const [label, room] of [
    ["no room", null],
    ["one room", roomId]
  ] as const) {
    const results = []
    for (let i = 0; i < rounds; i++) {
      const result = await openMany(room)
      results.push(result)
      console.log(`${label}: ${JSON.stringify(result)}`)
    }
    if (rounds > 1) console.log(`${label}, median of ${rounds}: ${JSON.stringify(medians(results))}`)
  }

  if (!values["skip-profile"]) {
    await settle()
    await inspector.startProfile(Number(values["profile-interval-us"]))
    const profiled = await openMany(roomId, false)
    const profile = await inspector.stopProfile()
    console.log(`profiled: ${JSON.stringify(profiled)}`)
    writeFileSync(join(out, "connect.cpuprofile"), JSON.stringify(profile))
    const summary = renderSummary(summarise(profile, 45))
    writeFileSync(join(out, "connect-profile.md"), summary)
    console.log(summary)
    if (values.allocations) {
      await settle()
      await inspector.startAllocations(4096)
      await openMany(roomId, false)
      writeFileSync(join(out, "connect-allocations.json"), JSON.stringify(await inspector.stopAllocations()))
    }
  }
  inspector.close()
} finally {
  clients.kill()
  await server.stop()
}
