/**
 * Search latency on Cassandra where a query's words fall in the same group commits but rarely in
 * one message: the index finds chunks (`cql/013_search_per_batch.cql`) and each chunk found is
 * read and checked. One room, `commits` group commits of 64 messages, alternating texts holding
 * "alpha" and texts holding "beta"; the oldest message holds both. Timed, rounds alternating:
 *
 * - "alpha beta": every chunk matches the index, one message matches: every chunk is read;
 * - "alpha": the first chunk read fills the page.
 *
 *   node apps/server/bench/cassandra-search.ts [commits, default 200]   (CASSANDRA_CONTACT_POINTS)
 */
import { type MessageId, makeTimeUuidClock, type RoomId, type UserId } from "@parley/domain"
import {
  CassandraStorage,
  type MessageRecord,
  MessageSearch,
  Messages,
  plainMessage,
  queryTerms
} from "@parley/storage"
import { Effect, Layer } from "effect"
import { benchKeyspaceConfig } from "./cassandra-node.ts"

const perCommit = 64

export const runCassandraSearch = async (options: {
  readonly contactPoints: string
  readonly commits?: number
  readonly rounds?: number
}) => {
  const commits = options.commits ?? 200
  const rounds = options.rounds ?? 5
  const config = benchKeyspaceConfig(options.contactPoints, "parley_search")
  const program = Effect.gen(function* () {
    const messages = yield* Messages
    const search = yield* MessageSearch
    const clock = makeTimeUuidClock()
    const roomId = clock.next(Date.now()) as RoomId
    const author = clock.next(Date.now()) as UserId
    let seq = 0
    const start = Date.now() - commits * 1000
    const record = (at: number, text: string): MessageRecord => ({
      roomId,
      id: clock.next(at) as MessageId,
      seq: ++seq,
      ...plainMessage,
      userId: author,
      username: "bench",
      text,
      clientMsgId: null,
      createdAt: at
    })
    let head = yield* messages.claim(roomId)
    for (let c = 0; c < commits; c++) {
      const at = start + c * 1000
      const batch = Array.from({ length: perCommit }, (_, i) =>
        record(at, c === 0 && i === 0 ? "alpha beta" : `${i % 2 === 0 ? "alpha" : "beta"} filler ${c} ${i}`)
      )
      yield* messages.append(roomId, batch, { epoch: head.epoch, afterSeq: head.lastSeq })
      head = { ...head, lastSeq: seq }
    }
    const timed = (q: string) =>
      Effect.gen(function* () {
        const started = performance.now()
        const found = yield* search.search({ rooms: [roomId], terms: queryTerms(q), before: null, limit: 50 })
        return { ms: performance.now() - started, found: found.length }
      })
    const samples = new Map<string, Array<number>>()
    for (let round = 0; round <= rounds; round++) {
      for (const q of ["alpha beta", "alpha"]) {
        const { ms, found } = yield* timed(q)
        if (round > 0) samples.set(q, [...(samples.get(q) ?? []), ms])
        if (round === 0) console.log(`"${q}": ${found} results`)
      }
    }
    return [...samples].map(([q, ms]) => {
      const sorted = [...ms].sort((a, b) => a - b)
      return { query: q, medianMs: sorted[Math.floor(sorted.length / 2)]!, samplesMs: ms }
    })
  })
  return Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(Layer.fresh(CassandraStorage.layer(config))))))
}

if (import.meta.main) {
  const rows = await runCassandraSearch({
    contactPoints: process.env.CASSANDRA_CONTACT_POINTS ?? "127.0.0.1:9042",
    commits: Number(process.argv[2] ?? 200)
  })
  for (const r of rows) {
    console.log(
      `${`"${r.query}"`.padEnd(14)} median ${r.medianMs.toFixed(1)} ms (${r.samplesMs.map((x) => x.toFixed(1)).join(", ")})`
    )
  }
  process.exit(0)
}
