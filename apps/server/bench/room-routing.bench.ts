/**
 * `pnpm bench`: what a send costs through the room actor, alone and behind effect/cluster's
 * routing (the path every send takes when Redis is configured), on a SQLite file; then the
 * actor's write path on Cassandra next to the driver's bare single-row INSERT
 * (`cassandra-write.ts`; a node is started when CASSANDRA_CONTACT_POINTS is unset). Each case
 * runs in this one process, in the same run, so ratios between them are what to read.
 * Writes BENCHMARKS.md.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import type { RoomId, UserId } from "@parley/domain"
import { SqliteStorage } from "@parley/storage"
import { Duration, Effect, Layer } from "effect"
import { MessageStorage, RunnerHealth, RunnerStorage, Runners, Sharding, ShardingConfig } from "effect/cluster"
import { defaultMaxBatchBytes, RoomActors } from "../src/chat/room-actor.ts"
import { RoomEntityLive, RoomRouter } from "../src/chat/room-router.ts"
import { Broker } from "../src/realtime/broker.ts"
import { cassandraNode } from "./cassandra-node.ts"
import { cassandraTotal, measureCassandra, type WriteResult } from "./cassandra-write.ts"

const total = 6000
const rounds = 3

/** effect/cluster as production runs it, minus the network: this node owns every shard. */
const clusterInProcess = Sharding.layer.pipe(
  Layer.provideMerge(Runners.layerNoop),
  Layer.provideMerge(MessageStorage.layerNoop),
  Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
  Layer.provide(ShardingConfig.layer({ simulateRemoteSerialization: false }))
)

const routers = {
  "actor (one node)": RoomRouter.layerLocal,
  "cluster-routed actor": Layer.merge(RoomRouter.layerCluster, RoomEntityLive).pipe(Layer.provide(clusterInProcess))
}

interface Result {
  readonly path: string
  readonly inFlight: number
  readonly msPerRound: number
  readonly perSecond: number
  readonly usPerMessage: number
}

const measure = (path: string, router: Layer.Layer<RoomRouter, never, RoomActors>, inFlight: number) =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "parley-bench-"))
    const layer = router.pipe(
      Layer.provideMerge(
        RoomActors.layer({
          mailboxCapacity: 100_000,
          maxBatch: 128,
          maxBatchBytes: defaultMaxBatchBytes,
          idleTimeout: Duration.minutes(1)
        })
      ),
      Layer.provide(Broker.layerMemory),
      Layer.provide(SqliteStorage.layer(join(dir, "bench.db")))
    )
    const times = yield* Effect.gen(function* () {
      const routing = yield* RoomRouter
      const userId = crypto.randomUUID() as UserId
      const sendAll = (roomId: RoomId, count: number) =>
        Effect.forEach(
          Array.from({ length: inFlight }, (_, w) => w),
          (w) =>
            Effect.forEach(
              Array.from({ length: Math.ceil(count / inFlight) }, (_, i) => i),
              (i) =>
                Effect.flatten(
                  routing.submit({ roomId, userId, username: "bench", text: `w${w} m${i}`, clientMsgId: `${w}-${i}` })
                ),
              { discard: true }
            ),
          { concurrency: inFlight, discard: true }
        )
      yield* sendAll(crypto.randomUUID() as RoomId, 500) // warm-up: JIT, statement cache
      const samples: Array<number> = []
      for (let r = 0; r < rounds; r++) {
        const started = performance.now()
        yield* sendAll(crypto.randomUUID() as RoomId, total)
        samples.push(performance.now() - started)
      }
      return samples.sort((a, b) => a - b)
    }).pipe(Effect.provide(layer), Effect.scoped, Effect.orDie)
    rmSync(dir, { recursive: true, force: true })
    const ms = times[Math.floor(times.length / 2)]!
    return { path, inFlight, msPerRound: ms, perSecond: (total / ms) * 1000, usPerMessage: (ms * 1000) / total }
  })

const results: Array<Result> = []
for (const inFlight of [1, 64]) {
  for (const [path, router] of Object.entries(routers)) {
    const result = await Effect.runPromise(measure(path, router, inFlight))
    console.log(
      `${path.padEnd(22)} in flight ${String(inFlight).padStart(3)}: ${result.perSecond.toFixed(0)} msg/s, ${result.usPerMessage.toFixed(1)} µs/msg`
    )
    results.push(result)
  }
}

const root = resolve(import.meta.dirname, "../../..")
const node = cassandraNode(root)
let cassandraResults: ReadonlyArray<WriteResult>
try {
  cassandraResults = await measureCassandra(node.contactPoints)
} finally {
  node.stop()
}
for (const r of cassandraResults) {
  console.log(
    `${r.path.padEnd(22)} in flight ${String(r.inFlight).padStart(3)}: ${r.perSecond.toFixed(0)} msg/s, ${r.usPerMessage.toFixed(1)} µs/msg`
  )
}
const findWrite = (path: string, inFlight: number) =>
  cassandraResults.find((r) => r.path === path && r.inFlight === inFlight)!
const writeRow = (r: WriteResult) =>
  `| ${r.path} | ${r.inFlight} | ${r.perSecond.toFixed(0)} | ${r.usPerMessage.toFixed(1)} | ${(
    findWrite("driver INSERT, one row", r.inFlight).usPerMessage / r.usPerMessage
  ).toFixed(2)} |`

const find = (path: string, inFlight: number) => results.find((r) => r.path === path && r.inFlight === inFlight)!
const row = (r: Result) =>
  `| ${r.path} | ${r.inFlight} | ${r.perSecond.toFixed(0)} | ${r.usPerMessage.toFixed(1)} | ${(
    find("actor (one node)", r.inFlight).usPerMessage / r.usPerMessage
  ).toFixed(2)} |`

const report = `# Benchmarks

Written by \`pnpm bench\` (\`apps/server/bench/room-routing.bench.ts\`) on ${new Date().toISOString().slice(0, 10)},
Node ${process.version}, ${total} sends per round into one room, median of ${rounds} rounds, SQLite file in WAL mode.
Machines here are shared and noisy: compare rows of one run, not numbers across runs.

## Send path: actor alone vs. behind effect/cluster routing

"In flight" is how many sends wait for their ack at once (1 = each sender waits for the
previous ack; 64 = many concurrent senders, where group commit stores many per write).
"Speed vs. actor" is the plain actor's µs/msg divided by this row's, at the same concurrency.

| path | in flight | msg/s | µs/msg | speed vs. actor |
| --- | --- | --- | --- | --- |
${results.map(row).join("\n")}

Group commit: at 64 in flight the plain actor stores ${(
  find("actor (one node)", 64).perSecond / find("actor (one node)", 1).perSecond
).toFixed(1)}× as many messages per second as at 1.

What this decided: a single node (no \`REDIS_URL\`) sends straight into its local actor; the
cluster routing is used only when Redis is configured, where several nodes need one owner
per room. Forwards are batched per room (everything that waits while one forward is under
way goes in the next), which is what keeps the routed path close to the actor under load;
one send at a time pays the routing cost in full. A remote hop (another node owns the room)
adds a network round trip on top.

## Cassandra write path: the actor vs. the driver's bare INSERT

${cassandraTotal} sends per round into one room, median of 3 rounds, one Cassandra 5.0 node, LOCAL_QUORUM.
"Driver INSERT" writes one row of \`room_messages\` per message and nothing else (no head, no
client-id copy, no bucket index): the floor any storage design pays. "Speed vs. INSERT" is its
µs/msg divided by this row's, at the same concurrency.

| path | in flight | msg/s | µs/msg | speed vs. INSERT |
| --- | --- | --- | --- | --- |
${cassandraResults.map(writeRow).join("\n")}
`
// Kept as they are: the sections measured once by hand (before/after records of a change) and the
// realtime section, which belongs to `pnpm bench:realtime` (apps/server/bench/realtime).
const previous = existsSync(join(root, "BENCHMARKS.md")) ? readFileSync(join(root, "BENCHMARKS.md"), "utf8") : ""
const kept = [
  /<!-- recorded:start[\s\S]*?<!-- recorded:end -->/.exec(previous)?.[0],
  /<!-- realtime:start[\s\S]*?<!-- realtime:end -->/.exec(previous)?.[0]
].filter((section) => section !== undefined)
if (previous !== "" && !previous.includes("<!-- recorded:start")) {
  // Rewriting would drop the hand-recorded sections, which exist nowhere else.
  throw new Error(
    "BENCHMARKS.md has no <!-- recorded:start … recorded:end --> block: restore it before running pnpm bench"
  )
}
writeFileSync(join(root, "BENCHMARKS.md"), `${[report, ...kept].join("\n\n")}\n`)
// The repo's one formatter owns Markdown too; aligned tables keep `pnpm lint` green.
spawnSync(join(root, "node_modules/.bin/biome"), ["format", "--write", "BENCHMARKS.md"], { cwd: root })
console.log("wrote BENCHMARKS.md")
