/**
 * Paired fan-out comparison on a busy machine: several servers (Parley checkouts, and the raw
 * `ws` peer) up at the same time, each with its own S raw subscribers, and windows taken in
 * turn (A, B, peer, A, B, peer, …) so that every target sees the same background load. Prints
 * the median server CPU per delivery per target and rate.
 *
 *   node apps/server/bench/profile/fanout-ab.ts --main name=/path/to/apps/server/src/main.ts [--main "name=/path/main.ts --node-flag" …]
 *     [--peer] [--subscribers 1000] [--users 10] [--rates 20,50] [--rounds 3] [--seconds 8]
 */
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import {
  createRoom,
  fanoutWindow,
  makeAccounts,
  startClients,
  startPeer,
  startServer,
  type WindowResult
} from "./harness.ts"

const { values } = parseArgs({
  options: {
    main: { type: "string", multiple: true, default: [] },
    peer: { type: "boolean", default: false },
    subscribers: { type: "string", default: "1000" },
    users: { type: "string", default: "10" },
    rates: { type: "string", default: "20,50" },
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "8" },
    bytes: { type: "string", default: "200" },
    out: { type: "string", default: join(tmpdir(), "parley-profile", "fanout-ab.json") }
  }
})
const subscribers = Number(values.subscribers)
const seconds = Number(values.seconds)
const bytes = Number(values.bytes)

interface Target {
  readonly name: string
  readonly window: (rate: number) => Promise<WindowResult>
  readonly stop: () => Promise<void>
}

const parleyTarget = async (name: string, main: string, nodeFlags: ReadonlyArray<string>): Promise<Target> => {
  // The raw clients never answer pings: no ping may come during the run.
  const server = await startServer({ main, nodeFlags, env: { WS_PING_INTERVAL: "1 hour" } })
  const clients = startClients()
  const accounts = await makeAccounts(server, Number(values.users) + 1)
  const sender = accounts[0]!
  const roomId = await createRoom(server, sender)
  const tokens = accounts.slice(1).map((a) => a.token)
  const joined = await clients.call({
    cmd: "open",
    url: server.wsUrl,
    tokens,
    count: subscribers,
    roomId,
    concurrency: 20,
    raw: true
  })
  console.log(`${name}: ${joined.opened} subscribers in ${joined.ms} ms`)
  const window = fanoutWindow(clients, {
    pid: server.pid,
    url: server.wsUrl,
    token: sender.token,
    roomId,
    subscribers: joined.opened,
    seconds,
    bytes
  })
  return {
    name,
    window,
    stop: async () => {
      clients.kill()
      await server.stop()
    }
  }
}

const peerTarget = async (): Promise<Target> => {
  const peer = await startPeer()
  const clients = startClients()
  const joined = await clients.call({
    cmd: "open",
    url: peer.wsUrl,
    tokens: [""],
    count: subscribers,
    roomId: null,
    concurrency: 20,
    raw: true
  })
  return {
    name: "raw ws peer",
    window: fanoutWindow(clients, {
      pid: peer.pid,
      url: peer.wsUrl,
      token: "",
      roomId: "",
      subscribers: joined.opened,
      seconds,
      bytes
    }),
    stop: async () => {
      clients.kill()
      peer.stop()
    }
  }
}

const targets: Array<Target> = []
try {
  for (const spec of values.main!) {
    // name=path, then any Node flags for that server after spaces: "b=/x/main.ts --max-semi-space-size=16"
    const at = spec.indexOf("=")
    const [path, ...nodeFlags] = spec.slice(at + 1).split(" ")
    targets.push(await parleyTarget(spec.slice(0, at), path!, nodeFlags))
  }
  if (values.peer) targets.push(await peerTarget())
  for (const t of targets) await t.window(20) // warm-up
  const rates = values.rates!.split(",").map(Number)
  const results: Record<string, Record<number, Array<WindowResult>>> = {}
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const rate of rates) {
      for (const t of targets) {
        const r = await t.window(rate)
        const byRate = results[t.name] ?? {}
        results[t.name] = byRate
        byRate[rate] = [...(byRate[rate] ?? []), r]
        console.log(
          `round ${round + 1} ${t.name} ${rate} msg/s: ${r.usPerDelivery.toFixed(2)} µs/delivery, loss ${(r.loss * 100).toFixed(2)}%, errors ${r.errors}, p50 ${r.p50} ms`
        )
      }
    }
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  console.log(`\n| target | ${rates.map((r) => `${r} msg/s µs/delivery (median)`).join(" | ")} |`)
  console.log(`|---|${rates.map(() => "---:").join("|")}|`)
  for (const t of targets) {
    console.log(
      `| ${t.name} | ${rates.map((r) => median(results[t.name]![r]!.map((x) => x.usPerDelivery)).toFixed(2)).join(" | ")} |`
    )
  }
  writeFileSync(values.out!, JSON.stringify(results, null, 2))
} finally {
  for (const t of targets) await t.stop()
}
