/**
 * The Cassandra write path: the room actor storing sends on a real node (group commit into
 * `Messages.append`), next to its floor, the driver inserting one row into `room_messages`
 * per message with nothing else. Both in one fresh keyspace, dropped afterwards.
 */
import type { RoomId, UserId } from "@parley/domain"
import { makeTimeUuidClock } from "@parley/domain"
import { CassandraConfig, CassandraStorage } from "@parley/storage"
import cassandra from "cassandra-driver"
import { Duration, Effect, Layer } from "effect"
import { RoomActors } from "../src/chat/room-actor.ts"
import { Broker } from "../src/realtime/broker.ts"

export interface WriteResult {
  readonly path: string
  readonly inFlight: number
  readonly perSecond: number
  readonly usPerMessage: number
}

export const cassandraTotal = 2000
const rounds = 3

/** Median of `rounds` timed runs of `round`, after one untimed warm-up. */
const median = async (round: (warmUp: boolean) => Promise<unknown>) => {
  await round(true)
  const samples: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    const started = performance.now()
    await round(false)
    samples.push(performance.now() - started)
  }
  return samples.sort((a, b) => a - b)[Math.floor(rounds / 2)]!
}

const result = (path: string, inFlight: number, ms: number): WriteResult => ({
  path,
  inFlight,
  perSecond: (cassandraTotal / ms) * 1000,
  usPerMessage: (ms * 1000) / cassandraTotal
})

/** `count` calls of `one`, `inFlight` at a time, each worker in order. */
const pool = (inFlight: number, count: number, one: (w: number, i: number) => Promise<unknown>) =>
  Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      for (let i = 0; i < Math.ceil(count / inFlight); i++) await one(w, i)
    })
  )

export const measureCassandra = async (contactPoints: string): Promise<ReadonlyArray<WriteResult>> => {
  process.env.CASSANDRA_CONTACT_POINTS = contactPoints
  const keyspace = `parley_bench_${Date.now().toString(36)}`
  const config = { ...Effect.runSync(CassandraConfig), keyspace }
  const results: Array<WriteResult> = []
  try {
    // The actor: the path every send takes, one `Messages.append` per group commit.
    const actors = RoomActors.layer({
      mailboxCapacity: 100_000,
      maxBatch: 128,
      maxBatchBytes: 40 * 1024,
      idleTimeout: Duration.minutes(1)
    }).pipe(Layer.provide(Broker.layerMemory), Layer.provide(CassandraStorage.layer(config)))
    await Effect.runPromise(
      Effect.gen(function* () {
        const room = yield* RoomActors
        const clock = makeTimeUuidClock()
        const userId = crypto.randomUUID() as UserId
        for (const inFlight of [1, 64]) {
          const ms = yield* Effect.promise(() =>
            median((warmUp) => {
              const roomId = clock.next(Date.now()) as RoomId
              return pool(inFlight, warmUp ? 200 : cassandraTotal, (w, i) =>
                Effect.runPromise(
                  room.send({ roomId, userId, username: "bench", text: `w${w} m${i}`, clientMsgId: `${w}-${i}` })
                )
              )
            })
          )
          results.push(result("actor on Cassandra", inFlight, ms))
        }
      }).pipe(Effect.provide(actors), Effect.scoped, Effect.orDie)
    )

    // The floor: one prepared single-row INSERT per message, no head, no client-id copy.
    const client = new cassandra.Client({ contactPoints: contactPoints.split(","), localDataCenter: "datacenter1" })
    await client.connect()
    try {
      const insert = `INSERT INTO ${keyspace}.room_messages (room_id, bucket, msg_id, seq, user_id, username, content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
      const clock = makeTimeUuidClock()
      const options = { prepare: true, consistency: cassandra.types.consistencies.localQuorum }
      for (const inFlight of [1, 64]) {
        const ms = await median(async (warmUp) => {
          const roomId = cassandra.types.TimeUuid.now()
          const bucket = new Date(0)
          let seq = 0
          await pool(inFlight, warmUp ? 200 : cassandraTotal, (w, i) =>
            client.execute(
              insert,
              [
                roomId,
                bucket,
                clock.next(Date.now()),
                ++seq,
                cassandra.types.Uuid.random(),
                "bench",
                `w${w} m${i}`,
                new Date()
              ],
              options
            )
          )
        })
        results.push(result("driver INSERT, one row", inFlight, ms))
      }
      await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 120_000 })
    } finally {
      await client.shutdown()
    }
  } catch (error) {
    console.error("Cassandra bench failed", error)
    throw error
  }
  return results
}
