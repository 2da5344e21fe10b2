/**
 * Where a retried send finds its original on Cassandra (`cql/015_keys_in_rows.cql`): the keys stay
 * in the message rows, summed up per chunk of 1024 rows in the partition's statics by the commit
 * that fills it (or the seal that ends the partition), so a new claim finds every stored key from
 * the chunks and the rows since the last one, and a chunk past the head (a refused commit's) is
 * never trusted. And the entries written before (`room_client_ids`), still read, behind the filter
 * of the keys they hold (`client-id-filter.ts`): filled from every entry, it must hold each of them
 * (a key it lacks would be stored twice).
 */

/** A new room's first `n` messages, each with a client id, from 8 senders. */
const withClientIds = (n: number) => {
  const roomId = newRoom(newUserId()).id
  const clock = makeTimeUuidClock()
  const users = Array.from({ length: 8 }, newUserId)
  // Every id in one of the tests' 50 ms partitions: minted at the clock's 1,000 a millisecond from
  // the window's start, 2,200 take 3 ms. Minted at `Date.now()`, they crossed into the next window
  // now and then, and a test that takes "the" partition saw part of the room.
  const windowStart = Math.floor(Date.now() / testMessageBucketMs) * testMessageBucketMs
  const records: Array<MessageRecord> = Array.from({ length: n }, (_, i) => ({
    roomId,
    id: clock.next(windowStart) as MessageId,
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

/** `withClientIds`, every 10th message sent without a client id. */
const someWithout = (n: number) => {
  const made = withClientIds(n)
  return { ...made, records: made.records.map((m, i) => (i % 10 === 9 ? { ...m, clientMsgId: null } : m)) }
}

/** `n` messages from 8 senders (every 10th without a client id), appended in batches of 50 under one claim. */
const stored = (n: number) =>
  Effect.gen(function* () {
    const messages = yield* Messages
    const { roomId, users, records } = someWithout(n)
    const { epoch } = yield* messages.claim(roomId)
    for (let i = 0; i < n; i += 50) {
      yield* messages.append(roomId, records.slice(i, i + 50), { epoch, afterSeq: i })
    }
    const keys = records.flatMap((m) =>
      m.clientMsgId === null ? [] : [{ userId: m.userId, clientMsgId: m.clientMsgId }]
    )
    return { roomId, users, keys }
  })

import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock, type RoomId, type UserId } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Context, Effect, FiberSet, Layer, Option } from "effect"
import { CassandraClient, uuid } from "../src/cassandra/client.ts"
import { clientIdFilters } from "../src/cassandra/client-id-filter.ts"
import { clientIdShard, clientIdShards, writeShardOf } from "../src/cassandra/client-ids.ts"
import { decodeChunk, encodeChunk } from "../src/cassandra/key-chunks.ts"
import { allRows, messageColumns, messageValues } from "../src/cassandra/message-rows.ts"
import { CassandraMessages } from "../src/cassandra/messages.ts"
import { type ClientMsgKey, type MessageRecord, Messages, plainMessage, StorageError } from "../src/index.ts"
import { newRoom, newUserId, testMessageBucketMs } from "./fixtures.ts"

const keyName = (k: { readonly userId: string; readonly clientMsgId: string | null }) => `${k.userId}/${k.clientMsgId}`

/** The room's partitions, oldest first. */
const partitions = (roomId: RoomId) =>
  Effect.gen(function* () {
    const db = yield* CassandraClient
    const rs = yield* db.execute("test", "SELECT bucket FROM room_buckets WHERE room_id = ?", [uuid(roomId)])
    return rs.rows.map((row) => (row.get("bucket") as Date).getTime()).sort((a, b) => a - b)
  })

/** The chunks stored in the room's first partition. */
const storedChunks = (roomId: RoomId) =>
  Effect.gen(function* () {
    const db = yield* CassandraClient
    const [bucket] = yield* partitions(roomId)
    const rs = yield* db.execute(
      "test",
      "SELECT key_chunks FROM room_messages WHERE room_id = ? AND bucket = ? LIMIT 1",
      [uuid(roomId), new Date(bucket!)]
    )
    const stored = (rs.first()?.get("key_chunks") as Record<string, Buffer> | null) ?? {}
    return Object.entries(stored).map(([first, value]) => decodeChunk(bucket!, Number(first), value))
  })

/**
 * `n` messages of a new room as a node before 015 left them: not in rows, only as entries carrying
 * the message (as 005 copied them), half in the key's own shard, half in its write shard.
 */
const legacyEntries = (n: number) =>
  Effect.gen(function* () {
    const db = yield* CassandraClient
    const { roomId, records } = withClientIds(n)
    yield* Effect.forEach(records, (m, i) =>
      db.execute(
        "test",
        `INSERT INTO room_client_ids (room_id, shard, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          uuid(roomId),
          i % 2 === 0 ? clientIdShard(m.userId, m.clientMsgId!) : writeShardOf(m.userId, m.clientMsgId!),
          ...messageValues(m)
        ]
      )
    )
    return { roomId, records, users: [...new Set(records.map((m) => m.userId))] }
  })

export const cassandraClientIds = (it: Vitest.MethodsNonLive<CassandraClient | Messages>) =>
  describe("cassandra: client ids of a large group commit", () => {
    it.effect("the key index's reads take every page of a result longer than one", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const { roomId } = yield* stored(12)
        const [bucket] = yield* partitions(roomId)
        const where = [uuid(roomId), new Date(bucket!)]
        const rows = yield* allRows(
          db,
          "test",
          "SELECT seq FROM room_messages WHERE room_id = ? AND bucket = ?",
          where,
          5
        )
        assert.deepStrictEqual(
          rows.map((row) => Number(row.get("seq"))),
          Array.from({ length: 12 }, (_, i) => 12 - i)
        )
      })
    )

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

    it.effect("keys stay in their rows: no entries; a chunk is closed by each commit that fills 1024 rows", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const { roomId } = yield* stored(2200)
        const entries = yield* db.execute(
          "test",
          "SELECT shard FROM room_client_ids WHERE room_id = ? AND shard IN ?",
          [uuid(roomId), Array.from({ length: clientIdShards }, (_, shard) => shard)]
        )
        assert.strictEqual(entries.rowLength, 0)
        const chunks = yield* storedChunks(roomId)
        // 21 commits of 50 reach 1050 rows: the 21st closes them, the next 21 the next 1050, the
        // last 100 stay open. A print for each row with a key: 9 in 10.
        assert.deepStrictEqual(
          chunks.map((c) => [c.firstSeq, c.lastSeq, c.prints.length]),
          [
            [1, 1050, 945],
            [1051, 2100, 945]
          ]
        )
      })
    )

    it.effect(
      "a new claim finds every stored key, in a closed chunk or the open one, and reads nothing for a new key",
      () =>
        Effect.gen(function* () {
          const { roomId, users, keys } = yield* stored(1100)
          const node = yield* storageNode
          yield* node.messages.claim(roomId)
          const fresh = Array.from({ length: 200 }, (_, i) => ({ userId: users[i % 8]!, clientMsgId: `new-${i}` }))
          const before = node.reads()
          const found = yield* node.messages.findByClientMsgIds(roomId, [...keys, ...fresh])
          assert.sameMembers(found.map(keyName), keys.map(keyName))
          const none = node.reads()
          yield* node.messages.findByClientMsgIds(roomId, fresh)
          assert.isAbove(none.range - before.range, 0)
          assert.strictEqual(node.reads().range - none.range, 0)
          assert.strictEqual(node.reads().rows - none.rows, 0)
          // One retry alone, of a closed chunk: its row read by itself (the node filtering the chunk's rows).
          const one = keys[500]!
          const alone = node.reads()
          assert.deepStrictEqual((yield* node.messages.findByClientMsgIds(roomId, [one])).map(keyName), [keyName(one)])
          assert.strictEqual(node.reads().range - alone.range, 1)
        }).pipe(Effect.scoped)
    )

    it.effect("a partition's open chunk is closed before its seal; each key is found after", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const { roomId, users, keys } = yield* stored(30)
        const { epoch } = yield* messages.claim(roomId)
        // A second later: the next window, a new partition.
        const later = sentLater(roomId, 31, users[0]!, "in-the-next-partition")
        yield* messages.append(roomId, [later], { epoch, afterSeq: 30 })
        const first = yield* storedChunks(roomId)
        assert.deepStrictEqual(
          first.map((c) => [c.firstSeq, c.lastSeq, c.prints.length]),
          [[1, 30, 27]]
        )
        const node = yield* storageNode
        yield* node.messages.claim(roomId)
        const retries = [...keys, { userId: later.userId, clientMsgId: later.clientMsgId! }]
        assert.sameMembers(
          (yield* node.messages.findByClientMsgIds(roomId, retries)).map(keyName),
          retries.map(keyName)
        )
      }).pipe(Effect.scoped)
    )

    it.effect("a chunk past the head (a refused commit's) is never read: the rows it claims to sum up are", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const { roomId, keys } = yield* stored(100)
        const [bucket] = yield* partitions(roomId)
        // What a deposed owner's late commit would leave: a chunk of rows 1..120, of other keys.
        const refused = {
          bucket: bucket!,
          firstSeq: 1,
          lastSeq: 120,
          firstId: makeTimeUuidClock().next(Date.now()),
          lastId: makeTimeUuidClock().next(Date.now() + 1),
          prints: new Uint32Array([1, 2, 3])
        }
        yield* db.execute(
          "test",
          "UPDATE room_messages USING TIMESTAMP 1 SET key_chunks[?] = ? WHERE room_id = ? AND bucket = ?",
          [cassandra.types.Long.fromNumber(1), encodeChunk(refused), uuid(roomId), new Date(bucket!)]
        )
        const node = yield* storageNode
        yield* node.messages.claim(roomId)
        assert.sameMembers((yield* node.messages.findByClientMsgIds(roomId, keys)).map(keyName), keys.map(keyName))
      }).pipe(Effect.scoped)
    )

    it.effect(
      "a live partition without chunks (stored before 015): its rows are read at the claim, then closed in chunks of about 1024",
      () =>
        Effect.gen(function* () {
          const db = yield* CassandraClient
          const { roomId, users, keys } = yield* stored(2200)
          const [bucket] = yield* partitions(roomId)
          yield* db.execute("test", "DELETE key_chunks FROM room_messages WHERE room_id = ? AND bucket = ?", [
            uuid(roomId),
            new Date(bucket!)
          ])
          const node = yield* storageNode
          const { epoch } = yield* node.messages.claim(roomId)
          assert.sameMembers((yield* node.messages.findByClientMsgIds(roomId, keys)).map(keyName), keys.map(keyName))
          // In the same window: the next commit closes every row read, in chunks of 1024 rows or a little more.
          const next = {
            ...sentLater(roomId, 2201, users[0]!, "after-the-upgrade"),
            id: makeTimeUuidClock().next(bucket! + 1) as MessageId
          }
          yield* node.messages.append(roomId, [next], { epoch, afterSeq: 2200 })
          assert.deepStrictEqual(
            (yield* storedChunks(roomId)).map((c) => [c.firstSeq, c.lastSeq]),
            [
              [1, 1101],
              [1102, 2201]
            ]
          )
        }).pipe(Effect.scoped)
    )

    it.effect("a chunk missing between two others: the claim reads its rows again, and their keys are found", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const { roomId, keys } = yield* stored(3200)
        const [bucket] = yield* partitions(roomId)
        assert.deepStrictEqual(
          (yield* storedChunks(roomId)).map((c) => c.firstSeq),
          [1, 1051, 2101]
        )
        // What a lost write would leave: rows 1051..2100 summed up by no chunk.
        yield* db.execute("test", "DELETE key_chunks[?] FROM room_messages WHERE room_id = ? AND bucket = ?", [
          cassandra.types.Long.fromNumber(1051),
          uuid(roomId),
          new Date(bucket!)
        ])
        const node = yield* storageNode
        yield* node.messages.claim(roomId)
        assert.sameMembers((yield* node.messages.findByClientMsgIds(roomId, keys)).map(keyName), keys.map(keyName))
      }).pipe(Effect.scoped)
    )

    it.effect(
      "a chunk closed before a seal lands above a deposed owner's late write of the same chunk, whatever the coordinator's clock",
      () =>
        Effect.gen(function* () {
          const db = yield* CassandraClient
          const { roomId, users, keys } = yield* stored(30)
          const [bucket] = yield* partitions(roomId)
          const where = [uuid(roomId), new Date(bucket!)]
          // This process's writes stamped ahead of Cassandra's clock (a writer's clock ahead of the
          // coordinator's, within the skew): the head's last write is a second and a half ahead.
          const ahead = (Date.now() + 1500) * 1000
          yield* db.execute(
            "test",
            "UPDATE room_messages USING TIMESTAMP ? SET last_seq = 30 WHERE room_id = ? AND bucket = ?",
            [ahead, ...where]
          )
          // A deposed owner's commit that closed rows 1..31 (never acknowledged), landing late: above
          // Cassandra's clock, below the next claim's writes (which go above the head's).
          const late = {
            bucket: bucket!,
            firstSeq: 1,
            lastSeq: 31,
            firstId: makeTimeUuidClock().next(Date.now()),
            lastId: makeTimeUuidClock().next(Date.now() + 1),
            prints: new Uint32Array([7])
          }
          // The claim here deposes the earlier one at once (the same process): no lease to wait out.
          const node = yield* storageNode
          const { epoch } = yield* node.messages.claim(roomId)
          yield* db.execute(
            "test",
            "UPDATE room_messages USING TIMESTAMP ? SET key_chunks[?] = ? WHERE room_id = ? AND bucket = ?",
            [ahead - 1000, cassandra.types.Long.fromNumber(1), encodeChunk(late), ...where]
          )
          // The next window: the open chunk (rows 1..30) closes, the partition is sealed.
          const later = sentLater(roomId, 31, users[0]!, "in-the-next-partition")
          yield* node.messages.append(roomId, [later], { epoch, afterSeq: 30 })
          const other = yield* storageNode
          yield* other.messages.claim(roomId)
          const retries = [...keys, { userId: later.userId, clientMsgId: later.clientMsgId! }]
          assert.sameMembers(
            (yield* other.messages.findByClientMsgIds(roomId, retries)).map(keyName),
            retries.map(keyName)
          )
          // Writes stamped ahead end here: later tests' plain writes keep to the clock again.
          yield* Effect.promise(
            () => new Promise((resolve) => setTimeout(resolve, Math.max(0, ahead / 1000 - Date.now() + 50)))
          )
        }).pipe(Effect.scoped)
    )

    it.effect(
      "entries written before keys moved into the rows (in a key's own shard or its write shard) are still found",
      () =>
        Effect.gen(function* () {
          const { roomId, records } = yield* legacyEntries(40)
          const node = yield* storageNode
          yield* node.messages.claim(roomId)
          const keys = records.map((m) => ({ userId: m.userId, clientMsgId: m.clientMsgId! }))
          const found = yield* node.messages.findByClientMsgIds(roomId, keys)
          assert.sameMembers(
            found.map((m) => m.id),
            records.map((m) => m.id)
          )
          const one = records[7]!
          assert.deepStrictEqual(
            yield* node.messages.findByClientMsgId(roomId, one.userId, one.clientMsgId!),
            Option.some(one)
          )
        }).pipe(Effect.scoped)
    )

    it.effect(
      "a claim whose keys could not be read: lookups read them for themselves, the next append fails, a new claim goes on",
      () =>
        Effect.gen(function* () {
          const { roomId, users, keys } = yield* stored(60)
          const real = yield* CassandraClient
          let failing = true
          const flaky = CassandraClient.of({
            ...real,
            execute: (operation, query, params, options) =>
              failing && operation === "messages.keys.partitions"
                ? Effect.fail(new StorageError({ operation, cause: new Error("test: node unreachable") }))
                : real.execute(operation, query, params, options)
          })
          const messages = Context.get(
            yield* Layer.build(
              CassandraMessages(testMessageBucketMs).pipe(Layer.provide(Layer.succeed(CassandraClient, flaky)))
            ),
            Messages
          )
          const { epoch } = yield* messages.claim(roomId)
          // The claim's read fails; the lookup waiting for it with it.
          yield* Effect.flip(messages.findByClientMsgIds(roomId, keys))
          failing = false
          assert.sameMembers((yield* messages.findByClientMsgIds(roomId, keys)).map(keyName), keys.map(keyName))
          const next = sentLater(roomId, 61, users[0]!, "after-a-failed-read")
          const refused = yield* Effect.flip(messages.append(roomId, [next], { epoch, afterSeq: 60 }))
          assert.strictEqual(refused._tag, "StorageError")
          const again = yield* messages.claim(roomId)
          yield* messages.append(roomId, [next], { epoch: again.epoch, afterSeq: 60 })
          const retry = { userId: next.userId, clientMsgId: next.clientMsgId! }
          assert.deepStrictEqual(
            (yield* messages.findByClientMsgIds(roomId, [retry])).map((m) => m.id),
            [next.id]
          )
        }).pipe(Effect.scoped)
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
 * A node's Cassandra `Messages` (a layer of its own, so keys and a filter of its own), a wait for
 * the fill of a room's filter of entries: until it is done, a lookup of a key no one stored goes
 * out (a round trip each, which paces the loop under the test clock); once done, nothing does.
 * And the count of candidate reads of its keys.
 */
const storageNode = Effect.gen(function* () {
  const real = yield* CassandraClient
  let lookups = 0
  let ranges = 0
  let openRows = 0
  const counting = CassandraClient.of({
    ...real,
    execute: (operation, query, params, options) => {
      if (operation === "messages.findByClientMsgId") lookups++
      if (operation === "messages.keys.range") ranges++
      if (operation === "messages.keys.rows") openRows++
      return real.execute(operation, query, params, options)
    }
  })
  const messages = Context.get(
    yield* Layer.build(
      CassandraMessages(testMessageBucketMs).pipe(Layer.provide(Layer.succeed(CassandraClient, counting)))
    ),
    Messages
  )
  /** Reads of candidate rows so far: of closed chunks (`range`), of the open chunk (`rows`). */
  const reads = () => ({ range: ranges, rows: openRows })
  const asked = (roomId: RoomId, key: ClientMsgKey) =>
    Effect.suspend(() => {
      const before = lookups
      return Effect.map(messages.findByClientMsgIds(roomId, [key]), () => lookups - before)
    })
  const filled = (roomId: RoomId, neverStored: ClientMsgKey) =>
    Effect.map(asked(roomId, neverStored).pipe(Effect.repeat({ until: (n) => n === 0, times: 10_000 })), (n) =>
      assert.strictEqual(n, 0, "the filter was never filled")
    )
  return { messages, filled, asked, reads }
})

export const cassandraClientIdFilter = (it: Vitest.MethodsNonLive<CassandraClient | Messages>) =>
  describe("cassandra: the filter of a room's client ids", () => {
    it.effect("filled from every stored entry, page by page: holds each stored key, few new ones", () =>
      Effect.gen(function* () {
        const { roomId, users, records } = yield* legacyEntries(600)
        const keys = records.map((m) => ({ userId: m.userId, clientMsgId: m.clientMsgId! }))
        // Pages of 16 rows: every shard partition of the room is read over several pages.
        const filters = clientIdFilters(yield* CassandraClient, yield* FiberSet.makeRuntime(), 16)
        filters.claimed(roomId, 1)
        assert.isTrue(yield* filters.filled(roomId))
        assert.deepStrictEqual(filters.mayHold(roomId, keys), keys)
        const fresh = Array.from({ length: 2000 }, (_, i) => ({ userId: users[i % 8]!, clientMsgId: `new-${i}` }))
        // About 1 in 100 is a false positive; a filter that ruled nothing out would pass all.
        assert.isBelow(filters.mayHold(roomId, fresh).length, 100)
      }).pipe(Effect.scoped)
    )

    it.effect("an earlier claim's filter never replaces a later one's (claims returning out of order)", () =>
      Effect.gen(function* () {
        const { roomId, users } = yield* legacyEntries(10)
        const filters = clientIdFilters(yield* CassandraClient, yield* FiberSet.makeRuntime())
        filters.claimed(roomId, 7)
        filters.claimed(roomId, 6)
        assert.isTrue(yield* filters.filled(roomId))
        const fresh = Array.from({ length: 200 }, (_, i) => ({ userId: users[i % 8]!, clientMsgId: `new-${i}` }))
        // The earlier claim's release leaves the filter in use (it is the later claim's)...
        filters.released(roomId, 6)
        assert.isBelow(filters.mayHold(roomId, fresh).length, 50)
        // ...which the later claim's release drops.
        filters.released(roomId, 7)
        assert.deepStrictEqual(filters.mayHold(roomId, fresh), fresh)
      }).pipe(Effect.scoped)
    )

    it.effect(
      "a released claim's filter goes (every key looked up again); an earlier claim's release keeps a later one's",
      () =>
        Effect.gen(function* () {
          const { roomId, users } = yield* legacyEntries(10)
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
