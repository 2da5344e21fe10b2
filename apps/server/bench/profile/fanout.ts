/**
 * Fan-out cost: S subscribers in one room (over a few users, several sockets each), one
 * sender at fixed rates with 200-byte messages. Server CPU per delivery from /proc
 * (utime + stime over the window, divided by the messages the clients received), p50/p99
 * send→deliver on a tenth of the sockets, then one more window under V8's CPU profiler
 * (through the inspector, so only the delivery window is sampled) with the top functions.
 *
 *   node apps/server/bench/profile/fanout.ts [--subscribers 1000] [--users 10] [--rates 50,100]
 *     [--seconds 10] [--profile-rate 100] [--out dir] [--env KEY=VALUE ...]
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { renderSummary, summarise } from "./cpu-profile.ts"
import {
  cpuMs,
  createRoom,
  fanoutWindow,
  makeAccounts,
  sleep,
  startClients,
  startPeer,
  startServer,
  type WindowResult
} from "./harness.ts"
import { connectInspector } from "./inspector.ts"

const { values } = parseArgs({
  options: {
    subscribers: { type: "string", default: "1000" },
    users: { type: "string", default: "10" },
    rates: { type: "string", default: "50,100" },
    seconds: { type: "string", default: "10" },
    bytes: { type: "string", default: "200" },
    "profile-rate": { type: "string", default: "100" },
    "profile-interval-us": { type: "string", default: "200" },
    out: { type: "string", default: join(tmpdir(), "parley-profile") },
    env: { type: "string", multiple: true, default: [] },
    /** Also run the raw `ws` broadcast peer of the realtime bench, same clients, same run: a yardstick on a busy machine. */
    peer: { type: "boolean", default: false }
  }
})
const out = values.out!
mkdirSync(out, { recursive: true })
const seconds = Number(values.seconds)
const bytes = Number(values.bytes)
const env = Object.fromEntries(values.env!.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]))

const measureWindow = (
  clients: ReturnType<typeof startClients>,
  pid: number,
  url: string,
  token: string,
  roomId: string,
  subscribers: number
) => fanoutWindow(clients, { pid, url, token, roomId, subscribers, seconds, bytes })

const report = (label: string, r: WindowResult) =>
  console.log(
    `${label} ${r.rate} msg/s: ${r.deliveries} deliveries (loss ${(r.loss * 100).toFixed(2)}%, ${r.errors} errors ${JSON.stringify(r.errorCodes)}), ` +
      `server CPU ${r.usPerDelivery.toFixed(2)} µs/delivery, p50 ${r.p50} ms, p99 ${r.p99} ms`
  )

const rates = values.rates!.split(",").map(Number)
const peerResults = []
if (values.peer) {
  const peer = await startPeer()
  const clients = startClients()
  try {
    const joined = await clients.call({
      cmd: "open",
      url: peer.wsUrl,
      tokens: [""],
      count: Number(values.subscribers),
      roomId: null,
      concurrency: 20,
      raw: true
    })
    const window = measureWindow(clients, peer.pid, peer.wsUrl, "", "", joined.opened)
    await window(20)
    for (const rate of rates) {
      const r = await window(rate)
      peerResults.push(r)
      report("raw ws peer", r)
    }
  } finally {
    await clients.call({ cmd: "close" }).catch(() => undefined)
    clients.kill()
    peer.stop()
  }
}

// The raw clients never answer pings: no ping may come during the run.
const server = await startServer({ inspect: true, env: { WS_PING_INTERVAL: "1 hour", ...env } })
const clients = startClients()
try {
  const inspector = await connectInspector(server.inspectPort!, { debugger: false })
  const accounts = await makeAccounts(server, Number(values.users) + 1)
  const sender = accounts[0]!
  const roomId = await createRoom(server, sender)
  const tokens = accounts.slice(1).map((a) => a.token)
  const joinCpu = cpuMs(server.pid)
  const joined = await clients.call({
    cmd: "open",
    url: server.wsUrl,
    tokens,
    count: Number(values.subscribers),
    roomId,
    concurrency: 20,
    raw: true
  })
  console.log(
    `${joined.opened} subscribers joined one room in ${joined.ms} ms (${joined.failed} failed), ` +
      `server CPU ${((cpuMs(server.pid) - joinCpu) / joined.opened).toFixed(2)} ms per join`
  )
  // Let the presence storm drain before measuring.
  for (let last = cpuMs(server.pid); ; ) {
    await sleep(1000)
    const now = cpuMs(server.pid)
    if (now - last < 50) break
    last = now
  }

  const window = measureWindow(clients, server.pid, server.wsUrl, sender.token, roomId, joined.opened)
  await window(20) // warm-up: JIT and the room actor
  const results = []
  for (const rate of rates) {
    const r = await window(rate)
    results.push(r)
    report("parley", r)
  }
  await inspector.startProfile(Number(values["profile-interval-us"]))
  const profiled = await window(Number(values["profile-rate"]))
  const profile = await inspector.stopProfile()
  const profilePath = join(out, `fanout-${values["profile-rate"]}.cpuprofile`)
  writeFileSync(profilePath, JSON.stringify(profile))
  const summary = renderSummary(summarise(profile, 35))
  writeFileSync(join(out, `fanout-profile-${values["profile-rate"]}.md`), summary)
  writeFileSync(join(out, "fanout-summary.json"), JSON.stringify({ joined, results, profiled, peerResults }, null, 2))
  console.log(
    `profiled window (${profiled.rate} msg/s, under the profiler): ${profiled.usPerDelivery.toFixed(2)} µs/delivery`
  )
  console.log(summary)
  inspector.close()
} finally {
  await clients.call({ cmd: "close" }).catch(() => undefined)
  clients.kill()
  await server.stop()
}
