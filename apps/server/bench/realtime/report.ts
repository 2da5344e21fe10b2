/**
 * The realtime section of BENCHMARKS.md, built from the results JSON: one table of Parley
 * next to each peer with Parley ÷ peer ratios, the hot room next to the raw driver, history
 * paging, the login storm, and the generator's own ceiling. The section sits between markers
 * so that `pnpm bench` (which rewrites the rest of the file) keeps it, and this one keeps the rest.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { root } from "./tools.ts"

export interface Results {
  readonly meta: Record<string, any>
  readonly servers: Record<string, Record<string, any>>
  /** Fan-out latency (and CPU per delivery) again at one rate, every server in turn per round (`plan.latencyRounds`). */
  readonly latencyRounds?: Record<string, ReadonlyArray<Record<string, any>>> | undefined
  /** The join storm again, every server in turn per round: each round's `measuredJoins`. */
  readonly joinRounds?: Record<string, ReadonlyArray<Record<string, any>>> | undefined
  readonly cassandraDriver: unknown
  /** The driver's rounds and Parley's passes, turn by turn, whose medians `cassandraDriver` and the hot room hold. */
  readonly cassandraTurns?:
    | ReadonlyArray<{ readonly driver: unknown; readonly parley: ReadonlyArray<Record<string, any>> }>
    | undefined
  /** The statements of one send, one at a time (`../cassandra-floor.ts`). */
  readonly cassandraFloor?: unknown
}

export const startMarker = "<!-- realtime:start (written by pnpm bench:realtime) -->"
export const endMarker = "<!-- realtime:end -->"

const peers = [
  ["ws", "raw `ws`"],
  ["sio", "Socket.IO"],
  ["centrifugo", "Centrifugo"]
] as const

const num = (v: unknown, digits = 1) =>
  typeof v === "number" && Number.isFinite(v)
    ? v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "–"

const ratio = (a: unknown, b: unknown) =>
  typeof a === "number" && typeof b === "number" && b > 0 ? `${(a / b).toFixed(2)}×` : "–"

/** One row: the measure on every server, then Parley ÷ each peer. */
const row = (label: string, pick: (s: Record<string, any>) => unknown, digits = 1, results: Results) => {
  const value = (key: string) => {
    const s = results.servers[key]
    return s === undefined ? undefined : pick(s)
  }
  const parley = value("parley")
  return `| ${label} | ${peers.map(([k]) => num(value(k), digits)).join(" | ")} | ${num(parley, digits)} | ${peers
    .map(([k]) => ratio(parley, value(k)))
    .join(" | ")} |`
}

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted.length === 0 ? undefined : sorted[Math.floor((sorted.length - 1) / 2)]
}

/** One measure of a server over some rounds (its value per round, where it has one) and their median (the lower middle for an even count). */
const overRounds = (
  rounds: Record<string, ReadonlyArray<Record<string, any>>> | undefined,
  key: string,
  field: string
) => {
  const values = (rounds?.[key] ?? []).map((l) => l[field]).filter((v): v is number => typeof v === "number")
  return { values, median: median(values) }
}
const roundP99s = (results: Results, key: string) => overRounds(results.latencyRounds, key, "p99Ms")
const roundCpus = (results: Results, key: string) => overRounds(results.latencyRounds, key, "cpuPerDeliveryUs")
const roundJoins = (results: Results, key: string) => overRounds(results.joinRounds, key, "perSecond")

const names = new Map<string, string>([["parley", "Parley"], ...peers])

/** One table of rounds: each round's value per server, in the order they ran, and the median. */
const perRound = (
  rounds: Record<string, ReadonlyArray<Record<string, any>>>,
  field: string,
  unit: string,
  digits: number
): Array<string> => {
  const count = Math.max(...Object.values(rounds).map((r) => r.length))
  return [
    `| server | ${Array.from({ length: count }, (_, i) => `round ${i + 1}, ${unit}`).join(" | ")} | median, ${unit} |`,
    `| --- | ${Array.from({ length: count }, () => "---").join(" | ")} | --- |`,
    ...Object.entries(rounds).map(([key, list]) => {
      const { median } = overRounds(rounds, key, field)
      return `| ${names.get(key) ?? key} | ${Array.from({ length: count }, (_, i) => num(list[i]?.[field], digits)).join(" | ")} | ${num(median, digits)} |`
    })
  ]
}

/** The rounds' tables: the fan-out's p99 and CPU per delivery at one rate, and the join storm. */
const roundsTable = (results: Results): Array<string> => {
  const rounds = results.latencyRounds
  const plan = results.meta.plan
  const cores = results.meta.roundCores
  if (rounds === undefined || Object.keys(rounds).length === 0) return []
  const count = Math.max(...Object.values(rounds).map((r) => r.length))
  const withCpu = Object.keys(rounds).some((key) => roundCpus(results, key).median !== undefined)
  const joins = results.joinRounds
  return [
    "",
    `### p99 send→deliver at ${plan.latencyRounds.rate} msg/s, ${count} rounds taking the servers in turn`,
    "",
    `The same fan-out (${plan.fanout.subs} subscribers, ${plan.latencyRounds.duration} after ${plan.latencyRounds.warm} of warm-up), run again after`,
    "every server's scenarios above: each round starts each server afresh, one after the other, so that",
    "a burst of background load on the shared machine lands on one round rather than on one server.",
    ...(cores === undefined
      ? []
      : cores === null
        ? ["The server and the generator shared every core (this machine could not split them)."]
        : [
            `Each server ran on core ${cores.server} (all of its threads) and the generator alone on core ${cores.generator}, pinned with`,
            "`taskset`: unpinned, the scheduler moved their threads about and each waited for the other now",
            "and then, and every server's p99 read about the same."
          ]),
    `One window's numbers move a lot from run to run; the goals below at ${plan.latencyRounds.rate} msg/s are judged on the medians.`,
    "",
    ...perRound(rounds, "p99Ms", "ms", 1),
    ...(withCpu
      ? ["", `Server CPU per delivery in the same rounds:`, "", ...perRound(rounds, "cpuPerDeliveryUs", "µs", 2)]
      : []),
    ...(joins === undefined || Object.keys(joins).length === 0
      ? []
      : [
          "",
          `### Joins into a room holding ${plan.join.prefill}, ${Math.max(...Object.values(joins).map((r) => r.length))} rounds taking the servers in turn`,
          "",
          `The join storm again (the next ${plan.join.joins} joins after ${plan.join.prefill}), after the rounds above, on fresh processes; the join goal is judged on the medians.`,
          "",
          ...perRound(joins, "perSecond", "joins/s", 0)
        ])
  ]
}

const phase = (s: Record<string, any>, rate: number) =>
  (s.fanout?.phases as Array<any> | undefined)?.find((p) => p.rate === rate)

/** A row of the Cassandra bench's export whose path matches (the raw driver, or the room actor). */
const cassandraRow = (results: Results, path: RegExp, inFlight: number): Record<string, any> | undefined => {
  const rows = results.cassandraDriver
  if (!Array.isArray(rows)) return undefined
  return (rows.flat(2) as Array<Record<string, any>>).find(
    (r) => r.inFlight === inFlight && typeof r.path === "string" && path.test(r.path) && r.perSecond
  )
}
const driverRow = (results: Results, inFlight: number) => cassandraRow(results, /^driver INSERT, one row$/, inFlight)
/** The driver writing the rows with their search words, as Parley stores them (runs before that had none). */
const indexedDriverRow = (results: Results, inFlight: number) => cassandraRow(results, /driver .*\+ terms/, inFlight)

/** Parley's acked msg/s over the plain driver's inserts/s in each turn, at `inFlight` (shape `i`). */
const turnRatios = (results: Results, inFlight: number, i: number) => {
  const turns = results.cassandraTurns ?? []
  const ratios = turns.map((turn) =>
    ratio(turn.parley[i]?.perSecond, driverRow({ ...results, cassandraDriver: turn.driver }, inFlight)?.perSecond)
  )
  return ratios.length === 0 ? "–" : ratios.join(", ")
}

export const markdownSection = (results: Results, files: { json: string; chart: string }) => {
  const { meta, servers } = results
  const plan = meta.plan
  const lines: Array<string> = []
  const push = (...l: Array<string>) => lines.push(...l)
  const r = (label: string, pick: (s: Record<string, any>) => unknown, digits = 1) =>
    push(row(label, pick, digits, results))
  push(
    startMarker,
    "",
    "## Realtime edge: Parley next to raw `ws`, Socket.IO and Centrifugo",
    "",
    `Written by \`pnpm bench:realtime\`${meta.mode === "quick" ? " --quick" : ""} (\`apps/server/bench/realtime/\`) on ${meta.date}, commit ${meta.commit}, ` +
      `${meta.machine.cpus} × ${meta.machine.model}, ${meta.machine.memoryGiB} GiB, Linux ${meta.machine.kernel}, Node ${meta.node}, ${meta.go}` +
      `${meta.centrifugo ? `, ${meta.centrifugo.split("\n")[0]}` : ""}. ${meta.minutes} minutes.`,
    "",
    "Every server was started by the command and driven by the same compiled load generator",
    "(`apps/server/bench/realtime/loadgen`, Go) on the same machine, one server at a time. The peers store",
    "nothing: raw `ws` is a broadcast loop with no auth; Socket.IO 4.8 on its WebSocket transport only;",
    "Centrifugo in its in-memory engine, insecure client mode, one channel. Parley authenticates every",
    "socket, checks room access, stores and acknowledges every message before it fans out, on SQLite.",
    "Server CPU is utime + stime of the server's process from `/proc/<pid>/stat` (all threads), memory",
    "is its RSS from `/proc/<pid>/status`. The machine is shared: compare columns of one run.",
    "`÷` columns are Parley's value divided by the peer's: below 1 is better for costs (KiB, µs, ms),",
    "above 1 is better for rates.",
    "",
    `| measure | ${peers.map(([, n]) => n).join(" | ")} | Parley | ${peers.map(([, n]) => `Parley ÷ ${n}`).join(" | ")} |`,
    `| --- | ${peers.map(() => "---").join(" | ")} | --- | ${peers.map(() => "---").join(" | ")} |`
  )
  r(`memory per idle socket, KiB (${plan.idle}, no room)`, (s) => s.idle?.kibPerSocket)
  if (plan.idleInRoom)
    r(`memory per idle socket, KiB (${plan.idle}, all in the room)`, (s) => s.idleInRoom?.kibPerSocket)
  r(`connects/s, no room (${plan.connect})`, (s) => s.connect?.connect?.perSecond, 0)
  r(`connects/s into the room, ${plan.connect} from empty`, (s) => s.connectInRoom?.connect?.perSecond, 0)
  r(
    `joins/s into a room holding ${plan.join.prefill} (next ${plan.join.joins})`,
    (s) => s.join?.measuredJoins?.perSecond,
    0
  )
  r(`server CPU per join, µs: first ${plan.join.first} into the empty room`, (s) => s.join?.firstJoins?.cpuPerOpUs, 0)
  r(
    `server CPU per join, µs: ${plan.join.first} into the room holding ${plan.join.prefill}`,
    (s) => s.join?.joinsAtPrefill?.cpuPerOpUs,
    0
  )
  for (const rate of plan.fanout.rates as Array<number>) {
    r(`server CPU per delivery, µs, ${rate} msg/s`, (s) => phase(s, rate)?.cpuPerDeliveryUs, 2)
  }
  for (const rate of plan.fanout.rates as Array<number>) {
    r(`p50 send→deliver, ms, ${rate} msg/s`, (s) => phase(s, rate)?.latency?.p50Ms)
    r(`p99 send→deliver, ms, ${rate} msg/s`, (s) => phase(s, rate)?.latency?.p99Ms)
    r(`p99.9 send→deliver, ms, ${rate} msg/s`, (s) => phase(s, rate)?.latency?.p999Ms)
  }
  for (const rate of plan.fanout.rates as Array<number>) {
    r(`deliveries/s, ${rate} msg/s`, (s) => phase(s, rate)?.deliveriesPerSecond, 0)
    r(`not delivered within the drain, %, ${rate} msg/s`, (s) => phase(s, rate)?.lossPct, 2)
  }
  push(
    "",
    `Fan-out: ${plan.fanout.subs} subscribers in one room and one more socket sending 200-byte messages at`,
    `a fixed rate (an absolute schedule: a late send is not skipped) for ${plan.fanout.duration} after ${plan.fanout.warm} of warm-up;`,
    "send→deliver is from the sender's stamp to the subscriber's read, both in the generator's clock;",
    `"not delivered" counts deliveries of the window's messages still missing ${plan.fanout.drain ?? "10s"} after it (a server past`,
    "its capacity falls behind rather than losing: the backlog is what is missing). Latency against",
    `load: [chart](${relative(root, files.chart)}); every number: [JSON](${relative(root, files.json)}).`
  )
  push(...roundsTable(results))
  const errors = Object.entries(servers).flatMap(([server, scenarios]) =>
    Object.entries(scenarios).flatMap(([name, v]) =>
      (Array.isArray(v) ? v : [v]).flatMap((x: any) =>
        x?.error || x?.firstError || x?.failed
          ? [`${server} ${name}: ${x.error ?? x.firstError ?? `${x.failed} failed`}`.slice(0, 300)]
          : []
      )
    )
  )
  for (const [server, scenarios] of Object.entries(servers)) {
    for (const p of (scenarios.fanout?.phases as Array<any> | undefined) ?? []) {
      if (p.subscribersClosed > 0)
        errors.push(`${server} fan-out at ${p.rate} msg/s: the server closed ${p.subscribersClosed} subscribers`)
    }
  }
  if (errors.length > 0) push("", "Failures in this run (a dash above):", "", ...errors.map((e) => `- ${e}`))

  // The hot room: Parley on both stores next to the raw driver.
  const hotCell = (key: string, i: number) => servers[key]?.hot?.[i]?.perSecond
  const shapes = plan.hot.shapes as Array<{ senders: number; inflight: number }>
  const inFlights = shapes.map((s) => s.senders * s.inflight)
  push(
    "",
    "### Hot room: acked messages per second",
    "",
    `One room, senders keeping N sends in flight (${shapes.map((s) => `${s.senders} socket${s.senders > 1 ? "s" : ""} × ${s.inflight}`).join(", ")}), 200-byte`,
    `messages, ${plan.hot.duration} after ${plan.hot.warm} of warm-up; an ack means stored (group commit). On Cassandra, after the driver bench and one`,
    "Parley pass unrecorded (a node just started is several times slower for minutes), the driver's rounds and a Parley pass take",
    `turns on the same node, each round as long as Parley's (${plan.driver?.turns ?? 1} turn${plan.driver?.turns === 1 ? "" : "s"}; medians, each turn's ratio below). The raw`,
    "driver rows are `cassandra-driver` inserting single rows into the same table on the same node",
    "(`apps/server/bench/cassandra-write.ts`), the ceiling any Cassandra design pays: first the row alone",
    "(the issue's yardstick), then the rows with the words search finds them by, once per group commit",
    "(at N in flight every Nth row holds the words of N texts, in `terms`, which the table's Storage-Attached",
    "Index adds to; `cql/013_search_per_batch.cql`), as Parley's commits stored them before",
    "`cql/016_search_after_ack.cql`; since then Parley writes them after the ack, once per 50 ms window.",
    "The in-process and driver rows write 30 words a message, about the generator's 200 bytes.",
    "",
    `| | ${inFlights.map((n) => `${n} in flight`).join(" | ")} |`,
    `| --- | ${inFlights.map(() => "---").join(" | ")} |`,
    `| raw driver inserts/s | ${inFlights.map((n) => num(driverRow(results, n)?.perSecond, 0)).join(" | ")} |`,
    `| raw driver inserts/s, the rows with their search words | ${inFlights.map((n) => num(indexedDriverRow(results, n)?.perSecond, 0)).join(" | ")} |`,
    `| Parley on Cassandra, acked msg/s | ${inFlights
      .map(
        (n, i) =>
          `${num(hotCell("parleyCassandra", i), 0)} (${ratio(hotCell("parleyCassandra", i), driverRow(results, n)?.perSecond)} driver, ${ratio(hotCell("parleyCassandra", i), indexedDriverRow(results, n)?.perSecond)} driver with terms)`
      )
      .join(" | ")} |`,
    `| Parley ÷ driver, each turn | ${inFlights.map((n, i) => turnRatios(results, n, i)).join(" | ")} |`,
    `| Parley on SQLite, acked msg/s | ${inFlights.map((_, i) => num(hotCell("parley", i), 0)).join(" | ")} |`,
    `| room actor in-process on Cassandra (no network, no socket), msg/s | ${inFlights
      .map((n) => num(cassandraRow(results, /actor/i, n)?.perSecond, 0))
      .join(" | ")} |`,
    `| Parley on Cassandra, ack p99, ms | ${inFlights.map((_, i) => num(servers.parleyCassandra?.hot?.[i]?.ackLatency?.p99Ms)).join(" | ")} |`,
    `| Parley on SQLite, ack p99, ms | ${inFlights.map((_, i) => num(servers.parley?.hot?.[i]?.ackLatency?.p99Ms)).join(" | ")} |`
  )
  if (!Array.isArray(results.cassandraDriver) && results.cassandraDriver !== undefined) {
    push("", `Raw driver: ${JSON.stringify(results.cassandraDriver)}`)
  }
  push(...cpuTable(results, inFlights))
  push(...floorTable(results))

  push(...goalsTable(results))

  const history = servers.parley?.history
  const login = servers.parley?.login
  push(
    "",
    "### Parley only: history paging and a login storm",
    "",
    "| measure | value |",
    "| --- | --- |",
    `| history: ${history?.readers ?? "–"} readers paging back 100 messages at a time, pages/s | ${num(history?.pagesPerSecond, 0)} |`,
    `| history: messages/s read | ${num(history?.messagesPerSecond, 0)} |`,
    `| history: page p50 / p99, ms | ${num(history?.latency?.p50Ms)} / ${num(history?.latency?.p99Ms)} |`,
    `| login storm: ${login?.clients ?? "–"} clients, logins/s (argon2id) | ${num(login?.perSecond)} |`,
    `| login storm: login p50 / p99, ms | ${num(login?.latency?.p50Ms)} / ${num(login?.latency?.p99Ms)} |`,
    `| login storm: server event-loop delay p99, ms (worst 5 s window, from /metrics) | ${num(login?.eventLoopP99Ms)} |`,
    `| idle server: event-loop delay p99, ms (from /metrics) | ${num(login?.eventLoopIdle?.p99)} |`
  )

  const ceiling = servers.ws?.ceiling?.phases as Array<any> | undefined
  const fanoutPhases = Object.values(servers).flatMap((s) => (s.fanout?.phases as Array<any> | undefined) ?? [])
  const genPerDelivery = fanoutPhases
    .map((p) => p.genCpuPerDeliveryUs)
    .filter((v): v is number => typeof v === "number")
  const genCores = fanoutPhases.map((p) => p.genCores).filter((v): v is number => typeof v === "number")
  const best = ceiling?.reduce((a, b) => (a.deliveriesPerSecond > b.deliveriesPerSecond ? a : b))
  push(
    "",
    "### The load generator's own ceiling",
    "",
    "The generator runs on one scheduler thread (`GOMAXPROCS=1`: a delivery costs it about a third less",
    "CPU than with two, and it leaves the other core to the server).",
    genPerDelivery.length > 0
      ? `Over every fan-out phase above it spent ${num(Math.min(...genPerDelivery), 2)}–${num(Math.max(...genPerDelivery), 2)} µs of CPU per delivery ` +
          `(one core: ${num(1e6 / Math.max(...genPerDelivery), 0)} deliveries/s at the worst of these) and used at most ${num(Math.max(...genCores), 2)} of its 1 core ` +
          (Math.max(...genCores) < 0.9
            ? "in any phase, so where a server fell behind, the server was the bottleneck, not the generator."
            : "in some phase: near its core, so that phase measures the generator and the server together.")
      : "",
    best
      ? `Against the raw \`ws\` peer at ${ceiling!.map((p) => `${p.rate}`).join(" and ")} msg/s into ${best.subscribers} subscribers, the most it received was ` +
          `${num(best.deliveriesPerSecond, 0)} deliveries/s (the peer using ${num(best.serverCores, 2)} cores, the generator ${num(best.genCores, 2)}; ` +
          `${num(best.genCpuPerDeliveryUs, 2)} µs of generator CPU per delivery): on two shared cores that is the ceiling of server and generator together.`
      : "",
    "",
    endMarker
  )
  return lines.join("\n")
}

/** "here + node = both" in µs (the sum of the rounded parts), or "–" when the node's share was not measured. */
const cpuCell = (here: unknown, node: unknown) =>
  typeof here === "number" && typeof node === "number"
    ? `${num(here, 0)} + ${num(node, 0)} = ${num(Math.round(here) + Math.round(node), 0)}`
    : "–"

/**
 * CPU per stored message, in the writer's process and on the Cassandra node, for each path of
 * the hot room: on this machine the node, the writer and the generator share two cores, so a
 * path's rate follows what a message costs both. Only when the node's process was known.
 */
const cpuTable = (results: Results, inFlights: ReadonlyArray<number>): Array<string> => {
  const parley = results.servers.parleyCassandra?.hot as Array<Record<string, any>> | undefined
  if (!parley?.some((r) => typeof r.storeCpuPerMessageUs === "number")) return []
  const path = (label: string, pattern: RegExp) =>
    `| ${label} | ${inFlights
      .map((n) => {
        const r = cassandraRow(results, pattern, n)
        return cpuCell(r?.cpuUsPerMessage, r?.nodeCpuUsPerMessage)
      })
      .join(" | ")} |`
  return [
    "",
    "CPU per stored message, µs, on the same node in the same turns: the writer's process (the driver's",
    "client, the in-process actor with its senders, or Parley's server) + the Cassandra node's (utime +",
    "stime of its JVM from `/proc`) = both; the driver's and the actor's rows are medians over the turns,",
    "Parley's is its turn with the median rate. The node and the writer (and, over the WebSocket, the load",
    "generator) share the machine's two cores, so a path's rate follows what a message costs both. The",
    "node's share is what it did during the round, including flushes and compactions that earlier rounds",
    "left behind: the paths run in a fixed order, so read it as a rough split, not to the microsecond.",
    "",
    `| path | ${inFlights.map((n) => `${n} in flight`).join(" | ")} |`,
    `| --- | ${inFlights.map(() => "---").join(" | ")} |`,
    path("raw driver INSERT, the row alone", /^driver INSERT, one row$/),
    path("raw driver INSERT, the row with its search words", /driver .*\+ terms/),
    path("room actor in-process", /actor/i),
    `| Parley over the WebSocket | ${inFlights.map((_, i) => cpuCell(parley[i]?.cpuPerMessageUs, parley[i]?.storeCpuPerMessageUs)).join(" | ")} |`
  ]
}

/** What each statement of one send costs alone, one at a time, next to the raw insert. */
const floorTable = (results: Results): Array<string> => {
  const rows = results.cassandraFloor
  if (!Array.isArray(rows)) return rows === undefined ? [] : ["", `Statements alone: ${JSON.stringify(rows)}`]
  return [
    "",
    "The statements of one send on the same node, alone and one at a time (`apps/server/bench/cassandra-floor.ts`,",
    "on the project's tables, every row holding the same 30 words): what a fenced, deduplicated append",
    "cannot go below. Since `cql/014_room_lease.cql` a send alone waits for the lease commit: one plain",
    "batch moving the head and storing the row, which holds its retry key too (`cql/015_keys_in_rows.cql`:",
    "a new key is known to be new in memory, with no read), with its search terms until",
    "`cql/016_search_after_ack.cql` and without them since (they follow the ack). The",
    "conditional batch is the commit before 014 (a Paxos round; without the terms, the round on its own),",
    "which a room still pays when it opens a partition or changes hands. The node's CPU is its JVM's",
    "utime + stime per statement, when the node runs on this machine (each INSERT opens a partition of",
    "its own, the commits write into one; background work of an earlier statement may land in a later one's).",
    "",
    "| statement, one in flight | per second | p50, ms | p99, ms | p50 ÷ the insert's | node's CPU, µs |",
    "| --- | --- | --- | --- | --- | --- |",
    ...(rows as Array<Record<string, any>>).map(
      (r) =>
        `| ${r.statement} | ${num(r.perSecond, 0)} | ${num(r.p50Ms, 2)} | ${num(r.p99Ms, 2)} | ${num(r.vsInsert, 2)}× | ${num(r.nodeCpuUs, 0)} |`
    )
  ]
}

/** Issue 10's goals, each with what this run measured and whether it is met. */
const goalsTable = (results: Results): Array<string> => {
  const { servers, meta } = results
  const plan = meta.plan
  const p = servers.parley ?? {}
  const rows: Array<[string, string, boolean | undefined]> = []
  const check = (
    goal: string,
    measured: number | undefined,
    shown: (v: number) => string,
    ok: (v: number) => boolean
  ) =>
    rows.push([
      goal,
      measured === undefined || !Number.isFinite(measured) ? "–" : shown(measured),
      measured === undefined || !Number.isFinite(measured) ? undefined : ok(measured)
    ])
  const div = (a: unknown, b: unknown) => (typeof a === "number" && typeof b === "number" && b > 0 ? a / b : undefined)
  check(
    "memory per idle authenticated socket ≤ 12 KiB",
    p.idle?.kibPerSocket,
    (v) => `${num(v)} KiB`,
    (v) => v <= 12
  )
  check(
    `server CPU of a join into a room of ${plan.join.prefill} ≤ 2× a join into an empty room`,
    div(p.join?.joinsAtPrefill?.cpuPerOpUs, p.join?.firstJoins?.cpuPerOpUs),
    (v) => `${v.toFixed(2)}×`,
    (v) => v <= 2
  )
  const joinsInRounds = roundJoins(results, "parley").median !== undefined
  check(
    `${plan.join.prefill + plan.join.joins} sockets join one room at ≥ 0.8× Socket.IO's rate (joins after the first ${plan.join.prefill}${joinsInRounds ? `; medians of the ${roundJoins(results, "parley").values.length} rounds` : ""})`,
    joinsInRounds
      ? div(roundJoins(results, "parley").median, roundJoins(results, "sio").median)
      : div(p.join?.measuredJoins?.perSecond, servers.sio?.join?.measuredJoins?.perSecond),
    (v) => `${v.toFixed(2)}×`,
    (v) => v >= 0.8
  )
  for (const rate of plan.fanout.rates as Array<number>) {
    const cpuInRounds = rate === plan.latencyRounds?.rate && roundCpus(results, "parley").median !== undefined
    const cpuOf = (key: string) =>
      cpuInRounds ? roundCpus(results, key).median : phase(servers[key] ?? {}, rate)?.cpuPerDeliveryUs
    const fromRounds = cpuInRounds ? ` (medians of the ${roundCpus(results, "parley").values.length} rounds)` : ""
    check(
      `CPU per delivery at ${rate} msg/s ≤ 0.9× Socket.IO${fromRounds}`,
      div(cpuOf("parley"), cpuOf("sio")),
      (v) => `${v.toFixed(2)}×`,
      (v) => v <= 0.9
    )
    check(
      `CPU per delivery at ${rate} msg/s ≤ 1.2× raw \`ws\`${fromRounds}`,
      div(cpuOf("parley"), cpuOf("ws")),
      (v) => `${v.toFixed(2)}×`,
      (v) => v <= 1.2
    )
    const inRounds = rate === plan.latencyRounds?.rate && roundP99s(results, "parley").median !== undefined
    check(
      `p99 send→deliver at ${rate} msg/s ≤ Socket.IO's${inRounds ? ` (medians of the ${roundP99s(results, "parley").values.length} rounds)` : ""}`,
      inRounds
        ? div(roundP99s(results, "parley").median, roundP99s(results, "sio").median)
        : div(phase(p, rate)?.latency?.p99Ms, phase(servers.sio ?? {}, rate)?.latency?.p99Ms),
      (v) => `${v.toFixed(2)}×`,
      (v) => v <= 1
    )
  }
  const inFlights = (plan.hot.shapes as Array<{ senders: number; inflight: number }>).map((x) => x.senders * x.inflight)
  const most = Math.max(...inFlights)
  check(
    `Parley on Cassandra ≥ 0.5× the raw driver's inserts at ${most} in flight`,
    div(servers.parleyCassandra?.hot?.[inFlights.indexOf(most)]?.perSecond, driverRow(results, most)?.perSecond),
    (v) => `${v.toFixed(2)}×`,
    (v) => v >= 0.5
  )
  check(
    "one in flight on Cassandra: ack (p50, over the WebSocket) within 3× a raw single insert (p50)",
    div(servers.parleyCassandra?.hot?.[inFlights.indexOf(1)]?.ackLatency?.p50Ms, driverRow(results, 1)?.latencyP50Ms),
    (v) => `${v.toFixed(2)}×`,
    (v) => v <= 3
  )
  // The same two, against the driver writing the row Parley stores (with its search terms):
  // not the issue's yardstick, which has nothing to index, but what a design keeping search pays.
  check(
    `(the same, against the driver writing the rows with their search words) at ${most} in flight`,
    div(servers.parleyCassandra?.hot?.[inFlights.indexOf(most)]?.perSecond, indexedDriverRow(results, most)?.perSecond),
    (v) => `${v.toFixed(2)}×`,
    (v) => v >= 0.5
  )
  check(
    "(the same, against the driver writing the rows with their search words) one in flight, ack p50 within 3×",
    div(
      servers.parleyCassandra?.hot?.[inFlights.indexOf(1)]?.ackLatency?.p50Ms,
      indexedDriverRow(results, 1)?.latencyP50Ms
    ),
    (v) => `${v.toFixed(2)}×`,
    (v) => v <= 3
  )
  return [
    "",
    "### Issue 10's goals in this run",
    "",
    "| goal | measured | met |",
    "| --- | --- | --- |",
    ...rows.map(([goal, measured, ok]) => `| ${goal} | ${measured} | ${ok === undefined ? "–" : ok ? "yes" : "no"} |`)
  ]
}

/** Puts the section into BENCHMARKS.md between its markers (appended the first time), keeping the rest. */
export const writeBenchmarks = (section: string) => {
  const file = join(root, "BENCHMARKS.md")
  const current = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n"
  const start = current.indexOf(startMarker)
  const end = current.indexOf(endMarker)
  const next =
    start >= 0 && end > start
      ? `${current.slice(0, start)}${section}${current.slice(end + endMarker.length)}`
      : `${current.trimEnd()}\n\n${section}\n`
  writeFileSync(file, next)
  // The repo's one formatter owns Markdown too; aligned tables keep `pnpm lint` green.
  spawnSync(join(root, "node_modules/.bin/biome"), ["format", "--write", "BENCHMARKS.md"], { cwd: root })
}
