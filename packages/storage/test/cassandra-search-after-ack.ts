/**
 * Search words written after the ack on Cassandra (`cql/016_search_after_ack.cql`), on the real
 * node: a plain commit's rows are found at once, before their words are written; the words of a
 * window's rows follow in one chunk; a rollover writes them before it seals the partition; a
 * claim writes those its predecessor left unwritten, above a late write of that predecessor.
 */
import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock, type RoomId } from "@parley/domain"
import { Context, Deferred, Effect, Layer } from "effect"
import { CassandraClient, uuid } from "../src/cassandra/client.ts"
import { CassandraMessages } from "../src/cassandra/messages.ts"
import { wallSleep } from "../src/cassandra/room-lease.ts"
import { CassandraSearch } from "../src/cassandra/search.ts"
import { type MessageRecord, MessageSearch, Messages } from "../src/index.ts"
import { newMessage, newRoom, newUserId, unique, testMessageBucketMs as w } from "./fixtures.ts"

/** Longer than any test: the words of a commit are written only by a rollover or a claim. */
const never = 3_600_000

/** `Messages` and `MessageSearch` on `client` (a process of its own when it is another object). */
const storageOn = (client: CassandraClient["Service"], searchLinger: number) =>
  Effect.map(
    Layer.build(
      Layer.merge(CassandraMessages(w, undefined, searchLinger), CassandraSearch).pipe(
        Layer.provide(Layer.succeed(CassandraClient, client))
      )
    ),
    (context) => ({ messages: Context.get(context, Messages), search: Context.get(context, MessageSearch) })
  )

/**
 * The real client, except that search-word batches wait at a gate (`reached` once one does,
 * with the `terms_through` it writes).
 */
const gatedClient = Effect.gen(function* () {
  const real = yield* CassandraClient
  const reached = yield* Deferred.make<string>()
  const open = yield* Deferred.make<void>()
  const landed = yield* Deferred.make<void>()
  const through = (queries: ReadonlyArray<{ readonly query: string; readonly params: ReadonlyArray<unknown> }>) =>
    String(queries.find((q) => q.query.includes("SET terms_through"))?.params[0])
  const client = CassandraClient.of({
    ...real,
    batchUnguarded: (operation, queries, options) =>
      operation !== "search.index"
        ? real.batchUnguarded(operation, queries, options)
        : Deferred.succeed(reached, through(queries)).pipe(
            Effect.andThen(Deferred.await(open)),
            Effect.andThen(real.batchUnguarded(operation, queries, options)),
            Effect.ensuring(Deferred.succeed(landed, undefined))
          )
  })
  return { client, reached, open, landed }
})

/** A plain message with the id given (ids of one window make one partition). */
const message = (roomId: RoomId, id: MessageId, seq: number, text: string): MessageRecord => ({
  ...newMessage(roomId, seq, text),
  id
})

/** A room's partition as the node holds it: `terms_through`, and each row's words and chunk start. */
const partition = (roomId: RoomId, bucket: number) =>
  Effect.flatMap(CassandraClient, (db) =>
    Effect.map(
      db.execute(
        "test",
        "SELECT terms_through, msg_id, terms, terms_from FROM room_messages WHERE room_id = ? AND bucket = ?",
        [uuid(roomId), new Date(bucket)]
      ),
      (rs) => ({
        through: rs.first()?.get("terms_through")?.toString() ?? null,
        rows: new Map(
          rs.rows.map((row) => [
            row.get("msg_id").toString() as string,
            {
              terms: (row.get("terms") as ReadonlyArray<string> | null) ?? [],
              from: row.get("terms_from")?.toString() ?? null
            }
          ])
        )
      })
    )
  )

/** Ids of one window, `n` of them, and the window (partition) they fall in. */
const idsInOneWindow = (n: number) => {
  const clock = makeTimeUuidClock()
  const at = Date.now()
  return { bucket: at, ids: Array.from({ length: n }, () => clock.next(at) as MessageId) }
}

export const cassandraSearchAfterAck = (it: Vitest.MethodsNonLive<CassandraClient | Messages>) =>
  describe("cassandra: search words written after the ack", () => {
    it.effect("a plain commit's rows are found at once, before their words are written; a claim writes them", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const { messages, search } = yield* storageOn(db, never)
        const roomId = newRoom(newUserId()).id
        const word = unique("later").replaceAll("-", "")
        const { bucket, ids } = idsInOneWindow(3)
        const [first, ...rest] = ids.map((id, i) => message(roomId, id, i + 1, `${word} number ${i}`))
        const head = yield* messages.claim(roomId)
        // The partition's first commit writes its words itself; the next ones, under the lease, do not.
        yield* messages.append(roomId, [first!], { epoch: head.epoch, afterSeq: 0 })
        yield* messages.append(roomId, [rest[0]!], { epoch: head.epoch, afterSeq: 1 })
        yield* messages.append(roomId, [rest[1]!], { epoch: head.epoch, afterSeq: 2 })
        const stored = yield* partition(roomId, bucket)
        assert.strictEqual(stored.through, first!.id)
        assert.deepStrictEqual(
          rest.map((m) => stored.rows.get(m.id)!.terms),
          [[], []]
        )
        const found = Effect.map(search.search({ rooms: [roomId], terms: [word], before: null, limit: 10 }), (hits) =>
          hits.map((m) => m.id)
        )
        assert.deepStrictEqual(yield* found, [...ids].reverse())
        // Paged from the newest unindexed row: the rest, once each.
        const older = yield* search.search({ rooms: [roomId], terms: [word], before: ids[2]!, limit: 10 })
        assert.deepStrictEqual(
          older.map((m) => m.id),
          [ids[1], ids[0]]
        )

        // A new owner (this process: no lease to wait out) writes the words left unwritten, as one chunk.
        const next = yield* storageOn(db, never)
        yield* next.messages.claim(roomId)
        const claimed = yield* partition(roomId, bucket)
        assert.strictEqual(claimed.through, ids[2])
        assert.include(claimed.rows.get(ids[2]!)!.terms, word)
        assert.strictEqual(claimed.rows.get(ids[2]!)!.from, ids[1])
        assert.deepStrictEqual(yield* found, [...ids].reverse())
      }).pipe(Effect.scoped)
    )

    it.effect("the words of a window's commits are written together, as one chunk, shortly after", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const { messages } = yield* storageOn(db, 200)
        const roomId = newRoom(newUserId()).id
        const word = unique("window").replaceAll("-", "")
        const { bucket, ids } = idsInOneWindow(4)
        const head = yield* messages.claim(roomId)
        for (const [i, id] of ids.entries()) {
          yield* messages.append(roomId, [message(roomId, id, i + 1, `${word} ${i}`)], {
            epoch: head.epoch,
            afterSeq: i
          })
        }
        const read = partition(roomId, bucket)
        // Waits on the node's state, polled on the wall clock (the test's clock is a TestClock).
        let stored = yield* read
        for (let tries = 0; stored.through !== ids[3] && tries < 500; tries++) {
          yield* wallSleep(10)
          stored = yield* read
        }
        assert.strictEqual(stored.through, ids[3])
        const withWords = [...stored.rows].filter(([, row]) => row.terms.length > 0).map(([id, row]) => [id, row.from])
        // The first commit's own row (a chunk of one), then the three after it as one chunk.
        assert.deepStrictEqual(withWords, [
          [ids[3], ids[1]],
          [ids[0], null]
        ])
      }).pipe(Effect.scoped)
    )

    it.effect("a process that stops writes the words it holds", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const roomId = newRoom(newUserId()).id
        const { bucket, ids } = idsInOneWindow(3)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const { messages } = yield* storageOn(db, never)
            const head = yield* messages.claim(roomId)
            for (const [i, id] of ids.entries()) {
              yield* messages.append(roomId, [message(roomId, id, i + 1, `stopping ${i}`)], {
                epoch: head.epoch,
                afterSeq: i
              })
            }
            assert.strictEqual((yield* partition(roomId, bucket)).through, ids[0])
          })
        )
        const stored = yield* partition(roomId, bucket)
        assert.strictEqual(stored.through, ids[2])
        assert.strictEqual(stored.rows.get(ids[2]!)!.from, ids[1])
      })
    )

    it.effect("a rollover writes the old partition's words before it seals it", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const { messages, search } = yield* storageOn(db, never)
        const roomId = newRoom(newUserId()).id
        const word = unique("sealed").replaceAll("-", "")
        const { bucket, ids } = idsInOneWindow(2)
        const clock = makeTimeUuidClock()
        const later = clock.next(bucket + 10 * w) as MessageId
        const head = yield* messages.claim(roomId)
        yield* messages.append(roomId, [message(roomId, ids[0]!, 1, `${word} a`)], { epoch: head.epoch, afterSeq: 0 })
        yield* messages.append(roomId, [message(roomId, ids[1]!, 2, `${word} b`)], { epoch: head.epoch, afterSeq: 1 })
        assert.strictEqual((yield* partition(roomId, bucket)).through, ids[0])
        yield* messages.append(roomId, [message(roomId, later, 3, `${word} c`)], { epoch: head.epoch, afterSeq: 2 })
        const sealed = yield* partition(roomId, bucket)
        assert.strictEqual(sealed.through, ids[1])
        assert.include(sealed.rows.get(ids[1]!)!.terms, word)
        const found = yield* search.search({ rooms: [roomId], terms: [word], before: null, limit: 10 })
        assert.deepStrictEqual(
          found.map((m) => m.id),
          [later, ids[1], ids[0]]
        )
      }).pipe(Effect.scoped)
    )

    it.effect("a claim's words stand over a late write of its predecessor's, whose chunk would overlap them", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const gate = yield* gatedClient
        // The first owner, a process of its own: its words' write is held, once sent, until the end.
        const first = yield* storageOn(gate.client, 300)
        const roomId = newRoom(newUserId()).id
        const word = unique("late").replaceAll("-", "")
        const { bucket, ids } = idsInOneWindow(4)
        const m = ids.map((id, i) => message(roomId, id, i + 1, `${word} ${i}`))
        const head = yield* first.messages.claim(roomId)
        for (let i = 0; i < 3; i++) yield* first.messages.append(roomId, [m[i]!], { epoch: head.epoch, afterSeq: i })
        // Its write of rows 2 and 3 is on its way; row 4 waits for the next one.
        assert.strictEqual(yield* Deferred.await(gate.reached), ids[2])
        yield* first.messages.append(roomId, [m[3]!], { epoch: head.epoch, afterSeq: 3 })

        // Another node takes over (waiting the lease out) and writes rows 2 to 4 as one chunk.
        const second = yield* storageOn(db, never)
        yield* second.messages.claim(roomId)
        const read = partition(roomId, bucket)
        const claimed = yield* read
        assert.strictEqual(claimed.through, ids[3])
        assert.strictEqual(claimed.rows.get(ids[3]!)!.from, ids[1])

        // The held write lands now, stamped below the claim's: its chunk (rows 2 and 3) is not read.
        yield* Deferred.succeed(gate.open, undefined)
        yield* Deferred.await(gate.landed)
        const after = yield* read
        assert.include(after.rows.get(ids[2]!)!.terms, word)
        assert.strictEqual(after.rows.get(ids[2]!)!.from, null)
        assert.strictEqual(after.rows.get(ids[3]!)!.from, ids[1])
        assert.strictEqual(after.through, ids[3])
        const found = yield* second.search.search({ rooms: [roomId], terms: [word], before: null, limit: 10 })
        assert.deepStrictEqual(
          found.map((x) => x.id),
          [...ids].reverse()
        )
      }).pipe(Effect.scoped)
    )
  })
