/**
 * `pnpm bench:realtime [--quick] [--only=parley,ws,sio,centrifugo,cassandra] [--write | --no-write]`:
 * the realtime edge of Parley next to three peers that store nothing (a raw `ws` broadcast
 * loop, Socket.IO 4, Centrifugo 6), all started by this command, all driven by one compiled
 * load generator (`loadgen/`, Go) in the same run:
 *   idle memory per socket, connect rate (with and without the room), a join storm into one
 *   room, fan-out at fixed rates (1,000 subscribers, 200-byte messages), and, for Parley only,
 *   a hot room (acked msg/s) on SQLite and on Cassandra next to the raw driver's inserts,
 *   history paging and a login storm with the server's event-loop delay.
 * Server CPU and memory come from /proc/<pid> of each server. Results: `results/*.json`,
 * a chart of p99 latency against load (`results/*.svg`), and, for a full run (or `--write`),
 * the realtime section of BENCHMARKS.md.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { cpus, release, tmpdir, totalmem } from "node:os"
import { join } from "node:path"
import { runCassandraFloor } from "../cassandra-floor.ts"
import { cassandraNode } from "../cassandra-node.ts"
import { makeAccounts } from "./accounts.ts"
import { driverOverTurns, parleyOverTurns, type Turn } from "./cassandra-turns.ts"
import { latencyChart } from "./chart.ts"
import { full, type Plan, quick } from "./plan.ts"
import { markdownSection, writeBenchmarks } from "./report.ts"
import { startCentrifugo, startParley, startSocketIoPeer, startWsPeer, type Target } from "./servers.ts"
import {
  buildCentrifugo,
  buildLoadgen,
  centrifugoModule,
  coreSplit,
  goVersion,
  loadgen,
  pinProcess,
  root,
  sleep
} from "./tools.ts"

const args = process.argv.slice(2)
const plan: Plan = args.includes("--quick") ? quick : full
const only = args
  .find((a) => a.startsWith("--only="))
  ?.slice("--only=".length)
  .split(",")
const wanted = (name: string) => only === undefined || only.includes(name)
const write = (plan.mode === "full" && !args.includes("--no-write")) || args.includes("--write")

type Scenario = Record<string, any>
export type ServerResults = Record<string, Scenario | ReadonlyArray<Scenario>>

const run = async (
  target: Target,
  creds: string | undefined,
  scenario: string,
  options: Record<string, string | number | boolean>,
  generatorCores?: string
) => {
  const flags = Object.entries(options).flatMap(([k, v]) =>
    typeof v === "boolean" ? [`-${k}=${v}`] : [`-${k}`, String(v)]
  )
  console.log(`  ${target.proto} ${scenario} ${flags.join(" ")}`)
  const began = Date.now()
  const result = await loadgen(
    [
      "-proto",
      target.proto,
      "-base",
      target.base,
      "-pid",
      String(target.pid),
      ...(target.metricsUrl === undefined ? [] : ["-metrics", target.metricsUrl]),
      "-scenario",
      scenario,
      "-workers",
      String(plan.workers),
      ...(creds === undefined ? [] : ["-creds", creds]),
      ...flags
    ],
    plan.scenarioTimeoutMs,
    generatorCores
  )
  console.log(`    ${((Date.now() - began) / 1000).toFixed(1)} s${result.error ? `: ${result.error}` : ""}`)
  return result
}

/** A Go duration of the plan ("10s") in seconds. */
const seconds = (duration: string) => Number(duration.replace(/s$/, ""))

/** Starts a server, runs `body` against it, always stops it. */
const fresh = async <A>(start: () => Promise<Target>, body: (t: Target) => Promise<A>) => {
  const target = await start()
  try {
    return await body(target)
  } finally {
    await target.stop()
  }
}

/**
 * What every server gets. Idle memory is read on a fresh process each time: a process that
 * already served (and closed) sockets reuses the memory they freed, which hides the cost of
 * new ones (seen: 23.6, then 11.1, then -18 KiB per socket on one Parley process). Then
 * connects, the join storm and fan-out on one more process, plus `extra` for that server.
 */
const measureServer = async (
  key: string,
  name: string,
  start: () => Promise<Target>,
  creds?: string,
  extra?: (t: Target) => Promise<ServerResults>
) => {
  console.log(`${name}:`)
  inTurn.push({ key, start, creds })
  const out: ServerResults = {}
  out.idle = await fresh(start, (t) => run(t, creds, "idle", { n: plan.idle, room: false, settle: plan.settle }))
  if (plan.idleInRoom) {
    out.idleInRoom = await fresh(start, (t) => run(t, creds, "idle", { n: plan.idle, room: true, settle: plan.settle }))
  }
  await fresh(start, async (t) => {
    Object.assign(out, await common(t, creds))
    if (extra !== undefined) Object.assign(out, await extra(t))
  })
  return out
}

/** The join storm's options, the same in the main pass and in the rounds. */
const joinOptions = () => ({ prefill: plan.join.prefill, joins: plan.join.joins, first: plan.join.first })

/** Connects, the join storm, fan-out, on one process. Sockets close between scenarios. */
const common = async (target: Target, creds?: string) => {
  const out: ServerResults = {}
  const pause = () => sleep(1000)
  out.connect = await run(target, creds, "connect", { n: plan.connect, room: false })
  await pause()
  out.connectInRoom = await run(target, creds, "connect", { n: plan.connect, room: true })
  await pause()
  out.join = await run(target, creds, "join", joinOptions())
  await pause()
  out.fanout = await run(target, creds, "fanout", {
    subs: plan.fanout.subs,
    rates: plan.fanout.rates.join(","),
    duration: plan.fanout.duration,
    warm: plan.fanout.warm,
    drain: plan.fanout.drain
  })
  await pause()
  return out
}

/** Every server measured so far, for the latency rounds. */
const inTurn: Array<{
  readonly key: string
  readonly start: () => Promise<Target>
  readonly creds?: string | undefined
}> = []

/** The rounds' cores (`coreSplit`), when this machine can split them. */
const roundCores = coreSplit()

/**
 * The fan-out at `plan.latencyRounds.rate` again, each round taking every server in turn on a
 * fresh process, the server and the generator each on cores of their own (`roundCores`): p99
 * per server and round, keyed like `servers`.
 */
const latencyRounds = async () => {
  const { rate, rounds, duration, warm, drain } = plan.latencyRounds
  const out: Record<string, Array<Scenario>> = {}
  for (let round = 1; round <= rounds; round++) {
    console.log(`latency round ${round} of ${rounds} (${rate} msg/s, every server in turn):`)
    for (const { key, start, creds } of inTurn) {
      const result = await fresh(start, (t) => {
        if (roundCores !== undefined) pinProcess(t.pid, roundCores.server)
        const options = { subs: plan.fanout.subs, rates: String(rate), duration, warm, drain }
        return run(t, creds, "fanout", options, roundCores?.generator)
      })
      const phase = (result.phases as Array<Scenario> | undefined)?.find((p) => p.rate === rate)
      out[key] = [
        ...(out[key] ?? []),
        phase?.latency === undefined
          ? { error: result.error ?? "no phase" }
          : { ...(phase.latency as Scenario), cpuPerDeliveryUs: phase.cpuPerDeliveryUs }
      ]
    }
  }
  return out
}

/**
 * The join storm again, in rounds like `latencyRounds`: a join rate is one short window, and
 * the goal compares two servers' rates. Each server's `measuredJoins` per round.
 */
const joinRounds = async () => {
  const out: Record<string, Array<Scenario>> = {}
  for (let round = 1; round <= plan.latencyRounds.rounds; round++) {
    console.log(`join round ${round} of ${plan.latencyRounds.rounds} (every server in turn):`)
    for (const { key, start, creds } of inTurn) {
      const result = await fresh(start, (t) => run(t, creds, "join", joinOptions()))
      out[key] = [...(out[key] ?? []), (result.measuredJoins as Scenario | undefined) ?? { error: result.error }]
    }
  }
  return out
}

/** The hot room, each shape of `plan.hot.shapes`; with `storePid` (Cassandra's), the node's CPU per message too. */
const hot = async (target: Target, creds: string, storePid?: number) => {
  const rows: Array<Scenario> = []
  for (const shape of plan.hot.shapes) {
    rows.push(
      await run(target, creds, "hot", {
        senders: shape.senders,
        inflight: shape.inflight,
        duration: plan.hot.duration,
        warm: plan.hot.warm,
        ...(storePid === undefined ? {} : { "store-pid": storePid })
      })
    )
  }
  return rows
}

const commit = () => {
  const sha = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).stdout.trim()
  const dirty = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], {
    cwd: root,
    encoding: "utf8"
  }).stdout.trim()
  return dirty === "" ? sha : `${sha} (with uncommitted changes)`
}

const started = Date.now()
buildLoadgen()
if (wanted("centrifugo")) buildCentrifugo()
const work = mkdtempSync(join(tmpdir(), "parley-bench-rt-"))
const servers: Record<string, ServerResults> = {}
let cassandraDriver: unknown
let cassandraTurns: ReadonlyArray<Turn> | undefined
let cassandraFloor: unknown
let rounds: Record<string, Array<Scenario>> | undefined
let joins: Record<string, Array<Scenario>> | undefined
try {
  if (wanted("parley")) {
    // Accounts are made once, on a first process; every later one reopens the same SQLite file.
    const dataDir = join(work, "parley-data")
    const sqlite = () => startParley({ kind: "sqlite" }, dataDir)
    console.log("Parley on SQLite: accounts")
    const began = Date.now()
    const accounts = await fresh(sqlite, (t) => makeAccounts(t.base, plan.users, work))
    console.log(`  ${plan.users} accounts in ${((Date.now() - began) / 1000).toFixed(1)} s`)
    servers.parley = await measureServer("parley", "Parley on SQLite", sqlite, accounts.file, async (t) => ({
      hot: await hot(t, accounts.file),
      history: await run(t, accounts.file, "history", {
        workers: plan.history.readers,
        duration: plan.history.duration,
        warm: "1s"
      }),
      login: await run(t, accounts.file, "login", {
        workers: plan.login.clients,
        duration: plan.login.duration,
        warm: "1s"
      })
    }))
  }
  if (wanted("ws")) {
    servers.ws = await measureServer("ws", "raw ws peer", startWsPeer, undefined, async (t) =>
      plan.ceilingRates.length === 0
        ? {}
        : {
            ceiling: await run(t, undefined, "fanout", {
              subs: plan.fanout.subs,
              rates: plan.ceilingRates.join(","),
              duration: plan.fanout.duration,
              warm: plan.fanout.warm,
              drain: plan.fanout.drain
            })
          }
    )
  }
  if (wanted("sio")) servers.sio = await measureServer("sio", "Socket.IO peer", startSocketIoPeer)
  if (wanted("centrifugo")) servers.centrifugo = await measureServer("centrifugo", "Centrifugo", startCentrifugo)
  if (plan.latencyRounds.rounds > 0 && inTurn.length > 1) {
    rounds = await latencyRounds()
    joins = await joinRounds()
  }
  if (wanted("cassandra")) {
    const node = cassandraNode(root)
    try {
      // A node just started runs its first minutes of writes several times slower while its
      // JIT warms (seen at one in flight: 75, then 120, then 250 acked/s): the driver and actor
      // bench runs once unrecorded first, then Parley gets one unrecorded pass of its own. Then
      // the driver and Parley take turns (`cassandra-turns.ts`).
      console.log("warming the Cassandra node (driver and actor bench, not recorded):")
      await driverCeiling(node.contactPoints, node.pid)
      console.log("Parley on Cassandra, taking turns with the driver:")
      cassandraTurns = await fresh(
        () => startParley({ kind: "cassandra", contactPoints: node.contactPoints }),
        async (t) => {
          const accounts = await makeAccounts(t.base, Math.max(...plan.hot.shapes.map((s) => s.senders)), work)
          console.log("  warm-up pass (not recorded):")
          await hot(t, accounts.file, node.pid)
          const turns: Array<Turn> = []
          for (let turn = 1; turn <= plan.driver.turns; turn++) {
            console.log(`  turn ${turn} of ${plan.driver.turns}:`)
            const driver = await driverCeiling(node.contactPoints, node.pid)
            turns.push({ driver, parley: await hot(t, accounts.file, node.pid) })
          }
          return turns
        }
      )
      servers.parleyCassandra = { hot: parleyOverTurns(cassandraTurns) }
      cassandraDriver = driverOverTurns(cassandraTurns)
      console.log("  the statements of one send, one at a time (cassandra-floor.ts)")
      cassandraFloor = await runCassandraFloor({
        contactPoints: node.contactPoints,
        perRound: plan.mode === "quick" ? 300 : 1000,
        rounds: plan.mode === "quick" ? 1 : 3,
        ...(node.pid === undefined ? {} : { nodePid: node.pid })
      }).catch((error) => ({ error: String(error) }))
    } finally {
      node.stop()
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}

/**
 * The raw cassandra-driver's single-row inserts into the same table shape (without and with the
 * search terms Parley's rows carry), and the room actor in-process, from the Cassandra bench's export (`runCassandraHotRoom`, `../cassandra-write.ts`).
 */
async function driverCeiling(contactPoints: string, nodePid: number | undefined): Promise<unknown> {
  const bench = (await import("../cassandra-write.ts")) as Record<string, unknown>
  const measure = bench.runCassandraHotRoom as
    | ((options: {
        contactPoints: string
        inFlight: ReadonlyArray<number>
        rounds: number
        seconds: number
        words: number
        nodePid?: number
      }) => Promise<unknown>)
    | undefined
  if (typeof measure !== "function")
    return { error: "apps/server/bench/cassandra-write.ts exports no runCassandraHotRoom" }
  const inFlight = plan.hot.shapes.map((s) => s.senders * s.inflight)
  console.log(`  cassandra-driver and room actor, ${inFlight.join(" and ")} in flight`)
  try {
    // 30 words of a few letters: about the 200 bytes of words the generator's hot room sends.
    return await measure({
      contactPoints,
      inFlight,
      rounds: 1,
      seconds: seconds(plan.hot.duration),
      words: 30,
      ...(nodePid === undefined ? {} : { nodePid })
    })
  } catch (error) {
    return { error: String(error) }
  }
}

const date = new Date().toISOString().slice(0, 10)
const results = {
  meta: {
    date,
    mode: plan.mode,
    commit: commit(),
    minutes: Math.round((Date.now() - started) / 600) / 100,
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? "",
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      kernel: release()
    },
    node: process.version,
    go: goVersion(),
    // A `go install` build reports version 0.0.0 (releases set it at link time): name the module.
    centrifugo: wanted("centrifugo") ? `Centrifugo ${centrifugoModule.split("@")[1]} (go install)` : undefined,
    plan,
    // null: this machine could not split its cores (one core, or no taskset)
    roundCores: roundCores ?? null
  },
  servers,
  latencyRounds: rounds,
  joinRounds: joins,
  cassandraDriver,
  cassandraTurns,
  cassandraFloor
}
const dir = join(import.meta.dirname, "results")
mkdirSync(dir, { recursive: true })
const suffix = plan.mode === "quick" ? "-quick" : ""
const jsonFile = join(dir, `realtime-${date}${suffix}.json`)
writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`)
const chartFile = join(dir, `latency-p99${suffix}.svg`)
writeFileSync(chartFile, latencyChart(results))
// Committed files pass `pnpm lint`: the repo's formatter has the last word on the JSON's layout.
spawnSync(join(root, "node_modules/.bin/biome"), ["format", "--write", jsonFile], { cwd: root })
const section = markdownSection(results, { json: jsonFile, chart: chartFile })
console.log(`\n${section}`)
console.log(`results: ${jsonFile}\nchart: ${chartFile}`)
if (write) {
  writeBenchmarks(section)
  console.log("wrote the realtime section of BENCHMARKS.md")
}
