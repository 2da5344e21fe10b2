/**
 * An existing deployment upgrading to migration 005 (the head moves into the message
 * partitions, client ids into room_client_ids): a keyspace at version 4 with a room's history
 * written the way version 4 wrote it (fixed time windows, a fenced head in room_heads, client
 * ids in room_messages_by_client_id), then the storage layer started on it. Nothing stored
 * may be lost: history, newest message and retries read as before, and the room goes on.
 */
import { assert, layer } from "@effect/vitest"
import { type MessageId, type RoomId, timeUuidFrom, type UserId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Duration, Effect, Layer, Option } from "effect"
import { afterAll, beforeAll } from "vitest"
import { CassandraClient, qualify } from "../src/cassandra/client.ts"
import { messageColumns, messageValues } from "../src/cassandra/message-rows.ts"
import { migrate } from "../src/cassandra/migrate.ts"
import { CassandraConfig, CassandraStorage, type MessageRecord, Messages, plainMessage } from "../src/index.ts"
import { keyspaceAtVersion } from "./keyspace-at-version.ts"

const keyspace = `parley_up5_${Date.now().toString(36)}`
const windowMs = 60_000
const settings = Effect.runSync(
  Effect.map(CassandraConfig, (config) => ({ ...config, keyspace, messageBucket: Duration.millis(windowMs) }))
)
const roomId = timeUuidFrom(Date.now() - 3_600_000, 0) as RoomId
const sender = crypto.randomUUID() as UserId
const t0 = Math.floor((Date.now() - 600_000) / windowMs) * windowMs
/** Five messages over three windows, the last two without a client id. */
const old: Array<MessageRecord> = [0, 1, 61, 62, 130].map((s, i) => ({
  roomId,
  id: timeUuidFrom(t0 + s * 1000, 0) as MessageId,
  seq: i + 1,
  userId: sender,
  username: "old",
  text: `old ${i + 1}`,
  clientMsgId: i < 3 ? `c-${i + 1}` : null,
  createdAt: t0 + s * 1000,
  ...plainMessage
}))
const windowOf = (m: MessageRecord) => Math.floor((m.createdAt - 0) / windowMs) * windowMs

let client: cassandra.Client

/** The keyspace as version 4 left it, with rows written the way version 4 wrote them. */
beforeAll(async () => {
  client = await keyspaceAtVersion(settings, 4)
  const run = (query: string, params: Array<unknown>) =>
    client.execute(qualify(keyspace, query), params, { prepare: true })
  for (const m of old) {
    await run(`INSERT INTO room_messages (room_id, bucket, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
      roomId,
      new Date(windowOf(m)),
      ...messageValues(m)
    ])
    await run("INSERT INTO room_buckets (room_id, bucket) VALUES (?, ?)", [roomId, new Date(windowOf(m))])
    if (m.clientMsgId !== null) {
      await run(`INSERT INTO room_messages_by_client_id (room_id, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [
        roomId,
        ...messageValues(m)
      ])
    }
  }
  const last = old.at(-1)!
  await run("INSERT INTO room_heads (room_id, epoch, last_seq, last_msg_id, last_bucket) VALUES (?, 7, ?, ?, ?)", [
    roomId,
    last.seq,
    last.id,
    new Date(windowOf(last))
  ])
})

afterAll(async () => {
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 120_000 })
  } finally {
    await client.shutdown()
  }
})

/** Starting the storage on the keyspace applies 005 and its copy of the client ids. */
const storage = CassandraStorage.services(settings).pipe(
  Layer.provideMerge(CassandraClient.layer(settings)),
  Layer.orDie
)

layer(storage, { timeout: 300_000 })("cassandra: migration 005 on existing data", (it) => {
  it.effect("history, the newest message and retries read as before; the room goes on after them", () =>
    Effect.gen(function* () {
      const messages = yield* Messages
      assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: null, limit: 100 }), old)
      assert.deepStrictEqual(yield* messages.listBefore(roomId, { before: null, limit: 2 }), old.slice(3).reverse())
      assert.deepStrictEqual(yield* messages.latest(roomId), Option.some(old.at(-1)!))
      for (const m of old.filter((m) => m.clientMsgId !== null)) {
        assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, m.userId, m.clientMsgId!), Option.some(m))
      }

      // The old head is taken over where it is and continued from.
      const claimed = yield* messages.claim(roomId)
      assert.deepStrictEqual([claimed.epoch, claimed.lastSeq, claimed.lastId], [8, 5, old.at(-1)!.id])
      const at = Date.now()
      const next: Array<MessageRecord> = [1, 2].map((i) => ({
        ...old[0]!,
        id: timeUuidFrom(at, i) as MessageId,
        seq: 5 + i,
        text: `new ${i}`,
        clientMsgId: `n-${i}`,
        createdAt: at,
        ...plainMessage
      }))
      yield* messages.append(roomId, next, { epoch: claimed.epoch, afterSeq: 5 })
      assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: null, limit: 100 }), [...old, ...next])
      assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: old[4]!.id, limit: 1 }), [next[0]!])
      assert.deepStrictEqual(yield* messages.listBefore(roomId, { before: next[0]!.id, limit: 2 }), [old[4]!, old[3]!])
      assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, sender, "c-2"), Option.some(old[1]!))
      assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, sender, "n-2"), Option.some(next[1]!))
      // The old epoch is refused from now on.
      const stale = yield* Effect.flip(messages.append(roomId, next, { epoch: 7, afterSeq: 5 }))
      assert.strictEqual(stale._tag, "StaleWrite")
    })
  )

  it.effect("applying 005 again (a second node starting) changes nothing", () =>
    Effect.gen(function* () {
      const db = yield* CassandraClient
      const messages = yield* Messages
      const before = yield* messages.listAfter(roomId, { after: null, limit: 100 })
      yield* db.execute("test", "DELETE FROM schema_migrations WHERE version = 5")
      yield* migrate(client, keyspace)
      assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: null, limit: 100 }), before)
      assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, sender, "c-1"), Option.some(old[0]!))
    })
  )
})
