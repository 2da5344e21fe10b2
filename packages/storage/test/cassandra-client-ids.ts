/**
 * Cassandra's client-id entries (`room_client_ids`) at the sizes of a busy room's group
 * commit: they hold no text (a lookup reads the message from the partition they name) and go
 * out in one unlogged batch per shard partition (none over several: Cassandra warns of those).
 * And the filter of the keys a room may hold (`client-id-filter.ts`), which spares a room
 * actor the lookup of a key no one stored: filled from every stored entry, it must hold each
 * of them (a key it lacks would be stored twice).
 */

/** A new room's first `n` messages, each with a client id, from 8 senders. */
const withClientIds = (n: number) => {
  const roomId = newRoom(newUserId()).id
  const clock = makeTimeUuidClock()
  const users = Array.from({ length: 8 }, newUserId)
  const records: Array<MessageRecord> = Array.from({ length: n }, (_, i) => ({
    roomId,
    id: clock.next(Date.now()) as MessageId,
    seq: i + 1,
    userId: users[i % users.length]!,
    username: "sender",
    text: `text ${i}`,
    clientMsgId: crypto.randomUUID(),
    createdAt: Date.now(),
    ...plainMessage
  }))
  return { roomId, users, records }
}

/** `n` messages with client ids, from 8 senders, appended in batches of 50 under one claim. */
const stored = (n: number) =>
  Effect.gen(function* () {
    const messages = yield* Messages
    const { roomId, users, records } = withClientIds(n)
    const { epoch } = yield* messages.claim(roomId)
    for (let i = 0; i < n; i += 50) {
      yield* messages.append(roomId, records.slice(i, i + 50), { epoch, afterSeq: i })
    }
    return { roomId, users, keys: records.map((m) => ({ userId: m.userId, clientMsgId: m.clientMsgId! })) }
  })

import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock, type RoomId, type UserId } from "@parley/domain"
import { Context, Effect, FiberSet, Layer, Option } from "effect"
import { CassandraClient, uuid } from "../src/cassandra/client.ts"
import { clientIdFilters } from "../src/cassandra/client-id-filter.ts"
import { clientIdShard, clientIdShards, writeShardOf } from "../src/cassandra/client-ids.ts"
import { CassandraMessages } from "../src/cassandra/messages.ts"
import { type ClientMsgKey, type MessageRecord, Messages, plainMessage, StorageError } from "../src/index.ts"
import { newRoom, newUserId, testMessageBucketMs } from "./fixtures.ts"

export const cassandraClientIds = (it: Vitest.MethodsNonLive<CassandraClient | Messages>) =>
  describe("cassandra: client ids of a large group commit", () => {
    it.effect("400 client ids of 64 characters in one append (over 50 KiB of entries): each finds its message", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const { epoch } = yield* messages.claim(roomId)
        const clock = makeTimeUuidClock()
        const now = Date.now()
        const users = Array.from({ length: 8 }, newUserId)
        const records: Array<MessageRecord> = Array.from({ length: 400 }, (_, i) => ({
          roomId,
          id: clock.next(now) as MessageId,
          seq: i + 1,
          userId: users[i % users.length]!,
          username: `user-${i % users.length}`,
          text: `text ${i} ${"é".repeat(i % 50)}`,
          clientMsgId: `${i}-`.padEnd(64, "k"),
          createdAt: now,
          ...plainMessage
        }))
        yield* messages.append(roomId, records, { epoch, afterSeq: 0 })
        // Looked up together, as a room actor does for a batch: one query per shard partition.
        const found = yield* Effect.forEach(
          records,
          (m) => messages.findByClientMsgId(roomId, m.userId, m.clientMsgId!),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(found, records.map(Option.some))
        assert.isTrue(Option.isNone(yield* messages.findByClientMsgId(roomId, users[0]!, "0-".padEnd(64, "x"))))
      })
    )

    it.effect("a room's entries are written into its 8 write shards (0, 4, ..., 28), not all 32", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const { roomId } = yield* stored(128)
        const rs = yield* db.execute("test", "SELECT shard FROM room_client_ids WHERE room_id = ? AND shard IN ?", [
          uuid(roomId),
          Array.from({ length: clientIdShards }, (_, shard) => shard)
        ])
        const shards = [...new Set(rs.rows.map((row) => row.get("shard") as number))].sort((a, b) => a - b)
        assert.strictEqual(rs.rows.length, 128)
        assert.deepStrictEqual(shards, [0, 4, 8, 12, 16, 20, 24, 28])
      })
    )

    it.effect("a group commit's entries go out one batch per shard partition, none over several partitions", () =>
      Effect.gen(function* () {
        // A batch over several partitions is a WARN line in Cassandra's log for every group
        // commit of 20 sends or more (`batch_size_warn_threshold`, 5 KiB); one per partition is not.
        const real = yield* CassandraClient
        const batches: Array<ReadonlyArray<{ readonly params: ReadonlyArray<unknown> }>> = []
        const recording = CassandraClient.of({
          ...real,
          batchUnguarded: (operation, queries, options) => {
            if (operation === "messages.append.clientIds") batches.push(queries)
            return real.batchUnguarded(operation, queries, options)
          }
        })
        const messages = Context.get(
          yield* Layer.build(
            CassandraMessages(testMessageBucketMs).pipe(Layer.provide(Layer.succeed(CassandraClient, recording)))
          ),
          Messages
        )
        const { roomId, records } = withClientIds(128)
        const { epoch } = yield* messages.claim(roomId)
        yield* messages.append(roomId, records, { epoch, afterSeq: 0 })
        const shardsOf = batches.map((batch) => [...new Set(batch.map((q) => q.params[1]))])
        assert.deepStrictEqual(
          shardsOf.map((shards) => shards.length),
          batches.map(() => 1)
        )
        assert.deepStrictEqual(
          shardsOf.flat().sort((a, b) => Number(a) - Number(b)),
          [0, 4, 8, 12, 16, 20, 24, 28]
        )
        assert.strictEqual(
          batches.reduce((n, batch) => n + batch.length, 0),
          128
        )
        const found = yield* messages.findByClientMsgIds(
          roomId,
          records.map((m) => ({ userId: m.userId, clientMsgId: m.clientMsgId! }))
        )
        assert.strictEqual(found.length, 128)
      })
    )

    it.effect("an entry written before the write shards, in its key's own shard, is still found", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const messages = yield* Messages
        const { roomId, keys } = yield* stored(50)
        // Keys whose own shard is not a write shard: moved there, as entries were written before.
        const moved = keys.filter((k) => clientIdShard(k.userId, k.clientMsgId) % 4 !== 0)
        assert.isAbove(moved.length, 10)
        for (const k of moved) {
          const key = [uuid(roomId), writeShardOf(k.userId, k.clientMsgId), uuid(k.userId), k.clientMsgId]
          const entry = yield* db.execute(
            "test",
            "SELECT msg_id, seq, created_at, bucket FROM room_client_ids WHERE room_id = ? AND shard = ? AND user_id = ? AND client_msg_id = ?",
            key
          )
          const row = entry.first()!
          yield* db.execute(
            "test",
            "DELETE FROM room_client_ids WHERE room_id = ? AND shard = ? AND user_id = ? AND client_msg_id = ?",
            key
          )
          yield* db.execute(
            "test",
            "INSERT INTO room_client_ids (room_id, shard, user_id, client_msg_id, msg_id, seq, created_at, bucket) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
              uuid(roomId),
              clientIdShard(k.userId, k.clientMsgId),
              uuid(k.userId),
              k.clientMsgId,
              row.get("msg_id"),
              row.get("seq"),
              row.get("created_at"),
              row.get("bucket")
            ]
          )
        }
        const found = yield* messages.findByClientMsgIds(roomId, keys)
        assert.deepStrictEqual(found.map((m) => m.clientMsgId).sort(), keys.map((k) => k.clientMsgId).sort())
      })
    )
  })

/** One message with a client id, a second after the messages `stored` wrote. */
const sentLater = (roomId: RoomId, seq: number, userId: UserId, clientMsgId: string): MessageRecord => ({
  roomId,
  id: makeTimeUuidClock().next(Date.now() + 1000) as MessageId,
  seq,
  userId,
  username: "sender",
  text: `message ${seq}`,
  clientMsgId,
  createdAt: Date.now(),
  ...plainMessage
})

/**
 * A node's Cassandra `Messages` (a layer of its own, so a filter of its own), and a wait for the
 * fill of a room's filter: until it is done, a lookup of a key no one stored goes out (a round
 * trip each, which paces the loop under the test clock); once done, nothing does.
 */
const storageNode = Effect.gen(function* () {
  const real = yield* CassandraClient
  let lookups = 0
  const counting = CassandraClient.of({
    ...real,
    execute: (operation, query, params, options) => {
      if (operation === "messages.findByClientMsgId") lookups++
      return real.execute(operation, query, params, options)
    }
  })
  const messages = Context.get(
    yield* Layer.build(
      CassandraMessages(testMessageBucketMs).pipe(Layer.provide(Layer.succeed(CassandraClient, counting)))
    ),
    Messages
  )
  const asked = (roomId: RoomId, key: ClientMsgKey) =>
    Effect.suspend(() => {
      const before = lookups
      return Effect.map(messages.findByClientMsgIds(roomId, [key]), () => lookups - before)
    })
  const filled = (roomId: RoomId, neverStored: ClientMsgKey) =>
    Effect.map(asked(roomId, neverStored).pipe(Effect.repeat({ until: (n) => n === 0, times: 10_000 })), (n) =>
      assert.strictEqual(n, 0, "the filter was never filled")
    )
  return { messages, filled, asked }
})

export const cassandraClientIdFilter = (it: Vitest.MethodsNonLive<CassandraClient | Messages>) =>
  describe("cassandra: the filter of a room's client ids", () => {
    it.effect("filled from every stored entry, page by page: holds each stored key, few new ones", () =>
      Effect.gen(function* () {
        const { roomId, users, keys } = yield* stored(600)
        // Pages of 16 rows: every shard partition of the room is read over several pages.
        const filters = clientIdFilters(yield* CassandraClient, yield* FiberSet.makeRuntime(), 16)
        filters.claimed(roomId, 1)
        // Sent while it fills: kept as well.
        const sending = { userId: users[0]!, clientMsgId: "sent-while-filling" }
        filters.adding(roomId, [sending])
        assert.isTrue(yield* filters.filled(roomId))
        assert.deepStrictEqual(filters.mayHold(roomId, keys), keys)
        assert.deepStrictEqual(filters.mayHold(roomId, [sending]), [sending])
        const fresh = Array.from({ length: 2000 }, (_, i) => ({ userId: users[i % 8]!, clientMsgId: `new-${i}` }))
        // About 1 in 100 is a false positive; a filter that ruled nothing out would pass all.
        assert.isBelow(filters.mayHold(roomId, fresh).length, 100)
      }).pipe(Effect.scoped)
    )

    it.effect("an earlier claim's filter never replaces a later one's (claims returning out of order)", () =>
      Effect.gen(function* () {
        const { roomId, users } = yield* stored(10)
        const filters = clientIdFilters(yield* CassandraClient, yield* FiberSet.makeRuntime())
        filters.claimed(roomId, 7)
        // The later owner's key, sent before the earlier claim's filter would start.
        const owners = { userId: users[0]!, clientMsgId: "the-later-owner-sends" }
        filters.adding(roomId, [owners])
        filters.claimed(roomId, 6)
        assert.isTrue(yield* filters.filled(roomId))
        assert.deepStrictEqual(filters.mayHold(roomId, [owners]), [owners])
      }).pipe(Effect.scoped)
    )

    it.effect(
      "a released claim's filter goes (every key looked up again); an earlier claim's release keeps a later one's",
      () =>
        Effect.gen(function* () {
          const { roomId, users } = yield* stored(10)
          const filters = clientIdFilters(yield* CassandraClient, yield* FiberSet.makeRuntime())
          filters.claimed(roomId, 3)
          assert.isTrue(yield* filters.filled(roomId))
          const fresh = Array.from({ length: 200 }, (_, i) => ({ userId: users[i % 8]!, clientMsgId: `new-${i}` }))
          // In use, the filter rules nearly all of them out (about 1 in 100 passes).
          assert.isBelow(filters.mayHold(roomId, fresh).length, 50)
          filters.released(roomId, 2)
          assert.isBelow(filters.mayHold(roomId, fresh).length, 50)
          filters.released(roomId, 3)
          assert.deepStrictEqual(filters.mayHold(roomId, fresh), fresh)
          assert.isFalse(yield* filters.filled(roomId))
        }).pipe(Effect.scoped)
    )

    it.effect("a fill that fails leaves every key to be looked up", () =>
      Effect.gen(function* () {
        const { roomId, keys } = yield* stored(10)
        const real = yield* CassandraClient
        const failing = CassandraClient.of({
          ...real,
          execute: (operation, query, params, options) =>
            operation === "messages.clientIdFilter"
              ? Effect.fail(new StorageError({ operation, cause: new Error("test: node unreachable") }))
              : real.execute(operation, query, params, options)
        })
        const filters = clientIdFilters(failing, yield* FiberSet.makeRuntime())
        filters.claimed(roomId, 1)
        assert.isFalse(yield* filters.filled(roomId))
        const fresh = [{ userId: keys[0]!.userId, clientMsgId: "never-stored" }]
        assert.deepStrictEqual(filters.mayHold(roomId, [...keys, ...fresh]), [...keys, ...fresh])
      }).pipe(Effect.scoped)
    )

    it.effect(
      "once a new claim's filter is filled, lookups go out only for keys it may hold, and find each stored one",
      () =>
        Effect.gen(function* () {
          const { roomId, users, keys } = yield* stored(200)
          // A restarted actor's storage (a new layer, so a new filter).
          const node = yield* storageNode
          const messages = node.messages
          const { epoch } = yield* messages.claim(roomId)
          const fresh = Array.from({ length: 20 }, (_, i) => ({ userId: users[i % 8]!, clientMsgId: `new-${i}` }))
          yield* node.filled(roomId, fresh[0]!)
          const found = yield* messages.findByClientMsgIds(roomId, [...keys, ...fresh])
          assert.sameMembers(
            found.map((m) => `${m.userId}/${m.clientMsgId}`),
            keys.map((k) => `${k.userId}/${k.clientMsgId}`)
          )
          // A key this claim stores from now on is held too: its retry is found.
          const later = sentLater(roomId, 201, users[0]!, "stored-after-the-fill")
          yield* messages.append(roomId, [later], { epoch, afterSeq: 200 })
          const retry = { userId: later.userId, clientMsgId: later.clientMsgId! }
          assert.deepStrictEqual(
            (yield* messages.findByClientMsgIds(roomId, [retry])).map((m) => m.id),
            [later.id]
          )
          // Released (its actor stopped), the filter is gone: a new key is looked up again.
          assert.strictEqual(yield* node.asked(roomId, fresh[0]!), 0)
          yield* messages.release(roomId, epoch)
          assert.strictEqual(yield* node.asked(roomId, fresh[0]!), 1)
        }).pipe(Effect.scoped)
    )

    it.effect("a new claim after another node's starts a new filter, holding what that node stored", () =>
      Effect.gen(function* () {
        const { roomId, users } = yield* stored(20)
        const here = yield* storageNode
        const there = yield* storageNode
        const probe = { userId: users[0]!, clientMsgId: "never-stored" }
        yield* here.messages.claim(roomId)
        yield* here.filled(roomId, probe)
        // The room moves to another node, which stores a message; then it comes back here.
        const { epoch } = yield* there.messages.claim(roomId)
        const moved = sentLater(roomId, 21, users[1]!, "stored-elsewhere")
        yield* there.messages.append(roomId, [moved], { epoch, afterSeq: 20 })
        yield* here.messages.claim(roomId)
        yield* here.filled(roomId, probe)
        const retry = { userId: moved.userId, clientMsgId: moved.clientMsgId! }
        assert.deepStrictEqual(
          (yield* here.messages.findByClientMsgIds(roomId, [retry])).map((m) => m.id),
          [moved.id]
        )
      }).pipe(Effect.scoped)
    )
  })
