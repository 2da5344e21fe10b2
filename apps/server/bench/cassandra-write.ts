/**
 * The Cassandra write path, a hot room: the room actor storing sends on a real node (group
 * commit into `Messages.append`, every send with a `client_msg_id`), next to its ceiling, the
 * driver doing single-row INSERTs into `room_messages` (the same table, the same columns, the
 * same texts) with the same number in flight and nothing else. The driver runs twice: without
 * `terms` (the issue's yardstick: nothing for search to index) and with them as Parley stores
 * them (once per group commit, which the table's Storage-Attached Index adds). All in one
 * fresh keyspace, dropped afterwards, in the same run and alternating round by round, so that
 * all see the same machine.
 *
 * `runCassandraHotRoom` is what `pnpm bench` and `pnpm bench:realtime` call; run this file
 * directly for a quick look: `node apps/server/bench/cassandra-write.ts [inFlight...] [--words=N] [--gap=ms] [--messages=N | --seconds=N]`
 * (with `CASSANDRA_PID` set, the node's CPU per message too).
 */
import type { RoomId, UserId } from "@parley/domain"
import { makeTimeUuidClock } from "@parley/domain"
import { CassandraStorage, messageTerms } from "@parley/storage"
import cassandra from "cassandra-driver"
import { Duration, Effect, Layer } from "effect"
import { defaultMaxBatchBytes, RoomActors } from "../src/chat/room-actor.ts"
import { Broker } from "../src/realtime/broker.ts"
import { benchKeyspaceConfig, nodePidFrom } from "./cassandra-node.ts"
import { cpuMs } from "./profile/harness.ts"

export interface WriteResult {
  readonly path: string
  readonly inFlight: number
  readonly perSecond: number
  readonly usPerMessage: number
}

/** One path at one concurrency: medians over the rounds, and the ratio to the driver's. */
export interface HotRoomRow extends WriteResult {
  readonly storage: "cassandra"
  /** Messages per timed round. */
  readonly messages: number
  readonly rounds: number
  /** Acked (or inserted) messages per second, every round, in order. */
  readonly samples: ReadonlyArray<number>
  /** Ack latency of one send, median and 99th percentile over all timed rounds, in ms. */
  readonly latencyP50Ms: number
  readonly latencyP99Ms: number
  /** This path's msg/s over the plain driver's, at the same concurrency (1 for that driver). */
  readonly vsDriver: number
  /** The same over the driver writing `terms` too (the row Parley stores). */
  readonly vsIndexedDriver: number
  /** CPU of this process (the driver's client, or the actor and its senders) per message, µs: median over the rounds. */
  readonly cpuUsPerMessage: number
  /** CPU of the Cassandra node's process per message, µs (median), when its pid is known (`nodePid`). */
  readonly nodeCpuUsPerMessage?: number
}

export interface HotRoomOptions {
  readonly contactPoints: string
  /** Sends kept in flight; each concurrency is measured for both paths. */
  readonly inFlight: number | ReadonlyArray<number>
  /** Timed rounds per path and concurrency (median reported); 3 by default. */
  readonly rounds?: number
  /** Messages per round; by default max(2000, 40 × in flight). */
  readonly messages?: (inFlight: number) => number
  /**
   * Seconds each timed round runs instead (`--seconds=N`): as long as the hot room's rounds over
   * the WebSocket, so that the driver's rate includes what a node pays over time (memtable
   * flushes, compaction), not a burst of a fraction of a second.
   */
  readonly seconds?: number
  readonly localDataCenter?: string
  /** The actor's `maxBatchBytes` (the server's default, `defaultMaxBatchBytes`, unless given). */
  readonly maxBatchBytes?: number
  /** Whether every send carries a `client_msg_id` (the retry key, as clients send it); true by default. */
  readonly clientIds?: boolean
  /** Words per message (`--words=N`): 2 by default; 30 is about a 200-byte chat line, whose words search indexes. */
  readonly words?: number
  /**
   * ms each worker waits after an ack before its next send (`--gap=N`, none by default): a
   * quiet room, where a send finds the room's lease half or wholly run out (compare with
   * `CASSANDRA_ROOM_LEASE`). Only latencies then mean anything, not msg/s.
   */
  readonly gapMs?: number
  /**
   * The Cassandra node's process id, when it runs on this machine (`CASSANDRA_PID`): each row
   * then reports the node's CPU per message too, so that a path's cost on the node shows.
   */
  readonly nodePid?: number
}

/** A vocabulary for longer texts: 500 distinct made-up words of 3 to 9 letters. */
const vocabulary = Array.from({ length: 500 }, (_, i) => `v${i.toString(36)}${"abcdefg".slice(0, 1 + (i % 7))}`)

/** Worker `w`'s `i`th text: its own two words, then `words - 2` from the vocabulary. */
export const textOf = (w: number, i: number, words: number) =>
  [
    `w${w}`,
    `m${i}`,
    ...Array.from({ length: Math.max(0, words - 2) }, (_, k) => vocabulary[(i * 31 + k * 17 + w) % 500]!)
  ].join(" ")

/**
 * The driver's two paths: the row alone, and the rows with the search words as Parley stores
 * them (`cql/013_search_per_batch.cql`): once per group commit, which at N in flight holds about
 * N messages, so every Nth row carries the words of N texts and the others none.
 */
export const plainDriver = "driver INSERT, one row"
export const indexedDriver = "driver INSERT, one row + terms"

/** What `pnpm bench` reports per round (the table's "2000 sends per round"). */
export const cassandraTotal = 2000
const defaultMessages = (inFlight: number) => Math.max(cassandraTotal, 40 * inFlight)

/** How long a round runs: a number of calls, or until a time (`performance.now()`, ms). */
type Extent = { readonly count: number } | { readonly until: number }

/** Calls of `one`, `inFlight` at a time, each worker in order, `gapMs` apart; the latency of each call. */
const pool = async (inFlight: number, extent: Extent, one: (w: number, i: number) => Promise<unknown>, gapMs = 0) => {
  const latencies: Array<number> = []
  const perWorker = "count" in extent ? Math.ceil(extent.count / inFlight) : Number.POSITIVE_INFINITY
  const until = "until" in extent ? extent.until : Number.POSITIVE_INFINITY
  await Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      for (let i = 0; i < perWorker && performance.now() < until; i++) {
        if (gapMs > 0 && i > 0) await new Promise((resolve) => setTimeout(resolve, gapMs))
        const started = performance.now()
        await one(w, i)
        latencies.push(performance.now() - started)
      }
    })
  )
  return latencies
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

const commitWordsMemo = new Map<string, ReadonlyArray<string>>()
/**
 * The words of a group commit of the `inFlight` texts of round `i` (every worker's), as Parley
 * indexes them; computed ahead of the driver's timed rounds, so that they time Cassandra only.
 */
const commitWords = (inFlight: number, i: number, words: number) => {
  const key = `${inFlight}/${i}/${words}`
  let terms = commitWordsMemo.get(key)
  if (terms === undefined) {
    terms = [...new Set(Array.from({ length: inFlight }, (_, w) => messageTerms(textOf(w, i, words))).flat())]
    commitWordsMemo.set(key, terms)
  }
  return terms
}

/** A path under test: one round at `inFlight`, on a fresh room each time. */
type Round = (inFlight: number, extent: Extent) => Promise<ReadonlyArray<number>>

interface Timed {
  readonly samples: Array<number>
  readonly latencies: Array<number>
  /** CPU µs per message of each round: this process's, and the node's (when its pid is known). */
  readonly cpu: Array<number>
  readonly nodeCpu: Array<number>
}

const processCpuMs = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

/**
 * The hot room on Cassandra: for each concurrency, one warm-up round of each path, then
 * `rounds` timed rounds alternating actor and driver. Returns one row per path and
 * concurrency, JSON-ready.
 */
export const runCassandraHotRoom = async (options: HotRoomOptions): Promise<ReadonlyArray<HotRoomRow>> => {
  const inFlights = typeof options.inFlight === "number" ? [options.inFlight] : [...options.inFlight]
  const rounds = options.rounds ?? 3
  const messagesAt = options.messages ?? defaultMessages
  const withIds = options.clientIds ?? true
  const config = benchKeyspaceConfig(options.contactPoints, "parley_bench")
  const keyspace = config.keyspace
  const client = new cassandra.Client({
    contactPoints: options.contactPoints.split(","),
    localDataCenter: options.localDataCenter ?? config.localDataCenter
  })
  const rows: Array<HotRoomRow> = []
  const actors = RoomActors.layer({
    mailboxCapacity: 100_000,
    maxBatch: 128,
    maxBatchBytes: options.maxBatchBytes ?? defaultMaxBatchBytes,
    idleTimeout: Duration.minutes(1)
  }).pipe(Layer.provide(Broker.layerMemory), Layer.provide(CassandraStorage.layer(config)))
  try {
    await Effect.runPromise(
      Effect.gen(function* () {
        const room = yield* RoomActors
        const clock = makeTimeUuidClock()
        // One sender per worker, as in a hot room: their client ids spread over the room's
        // client-id partitions as real senders' do.
        const senders = Array.from({ length: Math.max(...inFlights) }, () => crypto.randomUUID() as UserId)
        let roundNo = 0
        // The actor: the path every send takes, one `Messages.append` per group commit.
        const actorRound: Round = (inFlight, extent) => {
          const roomId = clock.next(Date.now()) as RoomId
          const r = roundNo++
          return pool(
            inFlight,
            extent,
            (w, i) =>
              Effect.runPromise(
                room.send({
                  roomId,
                  userId: senders[w]!,
                  username: "bench",
                  text: textOf(w, i, options.words ?? 2),
                  clientMsgId: withIds ? `${r}-${w}-${i}` : null
                })
              ),
            options.gapMs
          )
        }
        yield* Effect.promise(() => client.connect())
        // The ceiling: one prepared single-row INSERT per message into the same table, with the
        // same columns and texts: no head, no client-id entry, no condition; with `terms` or without.
        const insertOptions = { prepare: true, consistency: cassandra.types.consistencies.localQuorum }
        const driverRound =
          (withTerms: boolean): Round =>
          (inFlight, extent) => {
            const insert = `INSERT INTO ${keyspace}.room_messages (room_id, bucket, msg_id, seq, user_id, username, content, client_msg_id, created_at${withTerms ? ", terms" : ""}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?${withTerms ? ", ?" : ""})`
            const roomId = cassandra.types.TimeUuid.now()
            const bucket = new Date(Date.now())
            let seq = 0
            const r = roundNo++
            return pool(
              inFlight,
              extent,
              (w, i) => {
                const words = options.words ?? 2
                const text = textOf(w, i, words)
                const row = [
                  roomId,
                  bucket,
                  clock.next(Date.now()),
                  ++seq,
                  cassandra.types.Uuid.fromString(senders[w]!),
                  "bench",
                  text,
                  withIds ? `${r}-${w}-${i}` : null,
                  new Date()
                ]
                if (!withTerms) return client.execute(insert, row, insertOptions)
                const terms = seq % inFlight === 0 ? commitWords(inFlight, i, words) : cassandra.types.unset
                return client.execute(insert, [...row, terms], insertOptions)
              },
              options.gapMs
            )
          }
        const paths = [
          ["actor on Cassandra", actorRound],
          [plainDriver, driverRound(false)],
          [indexedDriver, driverRound(true)]
        ] as const
        for (const inFlight of inFlights) {
          const count = messagesAt(inFlight)
          const timed = new Map<string, Timed>(
            paths.map(([path]) => [path, { samples: [], latencies: [], cpu: [], nodeCpu: [] }])
          )
          // Enough commits' words for a timed round at 30,000 inserts/s, or 8,000 per send in flight
          // (one in flight does 2-5,000 here): later ones are computed as they come.
          const perSecond = Math.min(30_000, 8_000 * inFlight)
          const commits = Math.ceil((options.seconds === undefined ? count : options.seconds * perSecond) / inFlight)
          for (let i = 0; i < commits; i++) commitWords(inFlight, i, options.words ?? 2)
          for (const [, round] of paths) yield* Effect.promise(() => round(inFlight, { count: Math.min(count, 400) }))
          for (let r = 0; r < rounds; r++) {
            for (const [path, round] of paths) {
              const started = performance.now()
              const cpuBefore = processCpuMs()
              const nodeBefore = options.nodePid === undefined ? 0 : cpuMs(options.nodePid)
              const extent = options.seconds === undefined ? { count } : { until: started + options.seconds * 1000 }
              const latencies = yield* Effect.promise(() => round(inFlight, extent))
              const ms = performance.now() - started
              const t = timed.get(path)!
              t.samples.push((latencies.length / ms) * 1000)
              t.cpu.push(((processCpuMs() - cpuBefore) * 1000) / latencies.length)
              if (options.nodePid !== undefined) {
                t.nodeCpu.push(((cpuMs(options.nodePid) - nodeBefore) * 1000) / latencies.length)
              }
              for (const latency of latencies) t.latencies.push(latency)
            }
          }
          const driverRate = median(timed.get(plainDriver)!.samples)
          const indexedRate = median(timed.get(indexedDriver)!.samples)
          for (const [path] of paths) {
            const t = timed.get(path)!
            const perSecond = median(t.samples)
            rows.push({
              storage: "cassandra",
              path,
              inFlight,
              messages: options.seconds === undefined ? count : Math.round(t.latencies.length / rounds),
              rounds,
              perSecond,
              usPerMessage: 1_000_000 / perSecond,
              samples: t.samples,
              latencyP50Ms: percentile(t.latencies, 0.5),
              latencyP99Ms: percentile(t.latencies, 0.99),
              vsDriver: perSecond / driverRate,
              vsIndexedDriver: perSecond / indexedRate,
              cpuUsPerMessage: median(t.cpu),
              ...(t.nodeCpu.length === 0 ? {} : { nodeCpuUsPerMessage: median(t.nodeCpu) })
            })
          }
        }
      }).pipe(Effect.provide(actors), Effect.scoped, Effect.orDie)
    )
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 120_000 })
  } finally {
    await client.shutdown()
  }
  return rows
}

/** What `pnpm bench` (room-routing.bench.ts) reports: 1 and 128 in flight. */
export const measureCassandra = (contactPoints: string): Promise<ReadonlyArray<WriteResult>> =>
  runCassandraHotRoom({ contactPoints, inFlight: [1, 128] })

if (import.meta.main) {
  const args = process.argv.slice(2)
  const inFlight = args.map(Number).filter((n) => n > 0)
  const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
  const messages = flag("messages")
  const seconds = flag("seconds")
  const rows = await runCassandraHotRoom({
    contactPoints: process.env.CASSANDRA_CONTACT_POINTS ?? "127.0.0.1:9042",
    inFlight: inFlight.length > 0 ? inFlight : [1, 128],
    words: Number(flag("words") ?? 2),
    ...nodePidFrom(process.env.CASSANDRA_PID),
    gapMs: Number(flag("gap") ?? 0),
    ...(messages === undefined ? {} : { messages: () => Number(messages) }),
    ...(seconds === undefined ? {} : { seconds: Number(seconds) })
  })
  for (const r of rows) {
    console.log(
      `${r.path.padEnd(30)} in flight ${String(r.inFlight).padStart(3)}: ${r.perSecond.toFixed(0).padStart(6)} msg/s, p50 ${r.latencyP50Ms.toFixed(2)} ms, p99 ${r.latencyP99Ms.toFixed(2)} ms, ${r.vsDriver.toFixed(2)}x driver, ${r.vsIndexedDriver.toFixed(2)}x driver + terms, CPU ${r.cpuUsPerMessage.toFixed(1)} µs/msg here${r.nodeCpuUsPerMessage === undefined ? "" : ` + ${r.nodeCpuUsPerMessage.toFixed(1)} on the node`}`
    )
  }
  console.log(JSON.stringify(rows))
}
