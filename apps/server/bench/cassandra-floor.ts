/**
 * What the statements of one fenced, deduplicated send cost on this Cassandra node, one at a
 * time, next to the raw single-row INSERT that the hot-room goal compares against: the floor of
 * any design that keeps the guarantees. On the project's own tables (a fresh keyspace migrated
 * by the storage layer, dropped afterwards), the statements `room-head.ts` sends for a group
 * commit of one message:
 *
 * - the INSERT of one `room_messages` row (the driver's yardstick), and the same with the row's
 *   search terms (`terms`, which the table's Storage-Attached Index adds on each insert);
 * - the commit under the owner's lease (`cql/014_room_lease.cql`): ONE plain batch, the head's move
 *   and the row with its terms, which also holds the send's retry key (`cql/015_keys_in_rows.cql`;
 *   a new key needs no read); and the same without the terms, which since
 *   `cql/016_search_after_ack.cql` follow the ack: what a send alone waits for at the node;
 * - the commit before 014: ONE conditional batch on the room's live partition, the head's move
 *   `IF epoch = ? AND last_seq = ? AND next_bucket = null` and the row with its terms (a Paxos round,
 *   which a room still pays to open a partition or change hands); and the same without the terms
 *   (what the Paxos round costs on its own).
 *
 * Every row holds the same text, 30 words (about a 200-byte chat line). Rounds alternate the
 * statements so that all see the same machine; p50/p99 over all rounds.
 *
 *   node apps/server/bench/cassandra-floor.ts     (CASSANDRA_CONTACT_POINTS, default 127.0.0.1:9042)
 */
import { CassandraStorage, messageTerms } from "@parley/storage"
import cassandra from "cassandra-driver"
import { Effect, Layer } from "effect"
import { benchKeyspaceConfig, nodePidFrom } from "./cassandra-node.ts"
import { cpuMs } from "./profile/harness.ts"

export interface FloorRow {
  readonly statement: string
  readonly perSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** p50 over the INSERT's p50. */
  readonly vsInsert: number
  /** CPU of the node's process per statement, µs (median over the rounds), when its pid is given. */
  readonly nodeCpuUs?: number
}

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

export const runCassandraFloor = async (options: {
  readonly contactPoints: string
  readonly perRound?: number
  readonly rounds?: number
  /** The node's process id, when it runs on this machine: each statement's CPU on the node too. */
  readonly nodePid?: number
}): Promise<ReadonlyArray<FloorRow>> => {
  const perRound = options.perRound ?? 1000
  const rounds = options.rounds ?? 3
  const config = benchKeyspaceConfig(options.contactPoints, "parley_floor")
  const keyspace = config.keyspace
  // The storage layer creates and migrates the keyspace: the real tables, nothing hand-made.
  await Effect.runPromise(Effect.scoped(Layer.build(CassandraStorage.layer(config))))
  const client = new cassandra.Client({
    contactPoints: options.contactPoints.split(","),
    localDataCenter: config.localDataCenter,
    keyspace
  })
  const { TimeUuid, Uuid } = cassandra.types
  const prepared = { prepare: true, consistency: cassandra.types.consistencies.localQuorum }
  try {
    await client.connect()
    const room = TimeUuid.now()
    const bucket = new Date()
    const user = Uuid.random()
    let seq = 0
    let n = 0
    // The live partition's head, as a rollover leaves it: epoch 1, nothing stored yet.
    await client.execute(
      "UPDATE room_messages SET epoch = 1, last_seq = 0, base_seq = 0 WHERE room_id = ? AND bucket = ?",
      [room, bucket],
      prepared
    )
    const text = Array.from({ length: 30 }, (_, i) => `w${(i * 7919).toString(36)}`).join(" ")
    const terms = messageTerms(text)
    const row = (s: number, withTerms: boolean) => ({
      query: `INSERT INTO room_messages (room_id, bucket, msg_id, seq, user_id, username, content, client_msg_id, created_at${withTerms ? ", terms" : ""}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?${withTerms ? ", ?" : ""})`,
      params: [
        room,
        bucket,
        TimeUuid.now(),
        s,
        user,
        "bench",
        text,
        `c${n++}`,
        new Date(),
        ...(withTerms ? [terms] : [])
      ]
    })
    // Another partition than the head's, as the hot-room bench's driver rows are.
    const insert = (withTerms: boolean) => () => {
      const r = row(0, withTerms)
      return client.execute(r.query, [TimeUuid.now(), ...r.params.slice(1)], prepared)
    }
    const commit = async (withTerms: boolean) => {
      const rs = await client.batch(
        [
          {
            query:
              "UPDATE room_messages SET last_seq = ?, batch_from = ? WHERE room_id = ? AND bucket = ? IF epoch = ? AND last_seq = ? AND next_bucket = null",
            params: [seq + 1, seq + 1, room, bucket, 1, seq]
          },
          row(seq + 1, withTerms)
        ],
        prepared
      )
      if (!rs.wasApplied()) throw new Error("the head moved under the floor bench")
      seq++
    }
    // In a partition of its own: the conditional commits' Paxos timestamps must not meet plain ones.
    const leaseBucket = new Date(bucket.getTime() + 1)
    let leaseSeq = 0
    const leased = (withTerms: boolean) => () => {
      leaseSeq++
      const r = row(leaseSeq, withTerms)
      return client.batch(
        [
          {
            query: "UPDATE room_messages SET last_seq = ?, batch_from = ? WHERE room_id = ? AND bucket = ?",
            params: [leaseSeq, leaseSeq, room, leaseBucket]
          },
          { query: r.query, params: [room, leaseBucket, ...r.params.slice(2)] }
        ],
        { ...prepared, logged: false }
      )
    }
    const statements: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
      ["INSERT one message row", insert(false)],
      ["INSERT one message row + its terms", insert(true)],
      ["lease commit: head move + row, one batch", leased(true)],
      ["lease commit, the row without its terms (016)", leased(false)],
      ["commit before 014: head move + row, one conditional batch", () => commit(true)],
      ["the same commit, the row without its terms", () => commit(false)]
    ]
    const latencies = new Map(statements.map(([name]) => [name, [] as Array<number>]))
    const rates = new Map(statements.map(([name]) => [name, [] as Array<number>]))
    const nodeCpu = new Map(statements.map(([name]) => [name, [] as Array<number>]))
    const { nodePid } = options
    for (let round = 0; round <= rounds; round++) {
      for (const [name, run] of statements) {
        const took: Array<number> = []
        const began = performance.now()
        const nodeBefore = nodePid === undefined ? 0 : cpuMs(nodePid)
        for (let i = 0; i < perRound; i++) {
          const t = performance.now()
          await run()
          took.push(performance.now() - t)
        }
        // Round 0 warms the prepared statements and the node's paths; it is not counted.
        if (round === 0) continue
        latencies.get(name)!.push(...took)
        rates.get(name)!.push((perRound / (performance.now() - began)) * 1000)
        if (nodePid !== undefined) nodeCpu.get(name)!.push(((cpuMs(nodePid) - nodeBefore) * 1000) / perRound)
      }
    }
    const insertP50 = percentile(latencies.get(statements[0]![0])!, 0.5)
    return statements.map(([statement]) => {
      const l = latencies.get(statement)!
      return {
        statement,
        perSecond: percentile(rates.get(statement)!, 0.5),
        p50Ms: percentile(l, 0.5),
        p99Ms: percentile(l, 0.99),
        vsInsert: percentile(l, 0.5) / insertP50,
        ...(nodePid === undefined ? {} : { nodeCpuUs: percentile(nodeCpu.get(statement)!, 0.5) })
      }
    })
  } finally {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 120_000 }).catch(() => undefined)
    await client.shutdown()
  }
}

if (import.meta.main) {
  const rows = await runCassandraFloor({
    contactPoints: process.env.CASSANDRA_CONTACT_POINTS ?? "127.0.0.1:9042",
    ...nodePidFrom(process.env.CASSANDRA_PID)
  })
  for (const r of rows) {
    console.log(
      `${r.statement.padEnd(48)} ${r.perSecond.toFixed(0).padStart(6)}/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  ${r.vsInsert.toFixed(2)}x the insert${r.nodeCpuUs === undefined ? "" : `, ${r.nodeCpuUs.toFixed(0)} µs of the node's CPU`}`
    )
  }
}
