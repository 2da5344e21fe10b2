/**
 * A batch whose search terms were cut off after its commit, on the real node: the rows are
 * stored, their `room_search_terms` / `room_search_periods` entries are not, as if the writer
 * died in between. The append fails (it never acknowledges an unindexed message), and the next
 * claim must index that batch (cql/008_search.cql), or its messages could never be found.
 */
import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Context, Effect, Exit, Layer } from "effect"
import { CassandraClient, uuid } from "../src/cassandra/client.ts"
import { CassandraMessages } from "../src/cassandra/messages.ts"
import { CassandraSearch } from "../src/cassandra/search.ts"
import { type MessageRecord, MessageSearch, Messages, plainMessage, Rooms, StorageError } from "../src/index.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { newRoom, newUserId, unique, testMessageBucketMs as w } from "./fixtures.ts"

/** Cassandra's `Messages` and `MessageSearch` whose search-index writes fail while `cut.on`. */
const cutStorage = (cut: { on: boolean }) =>
  Effect.gen(function* () {
    const real = yield* CassandraClient
    const client = CassandraClient.of({
      ...real,
      batchUnguarded: (operation, queries, options) =>
        operation.startsWith("messages.append.search") && cut.on
          ? Effect.fail(
              new StorageError({ operation, cause: new cassandra.errors.OperationTimedOutError("test: node died") })
            )
          : real.batchUnguarded(operation, queries, options)
    })
    const context = yield* Layer.build(
      Layer.merge(CassandraMessages(w), CassandraSearch).pipe(Layer.provide(Layer.succeed(CassandraClient, client)))
    )
    return { messages: Context.get(context, Messages), search: Context.get(context, MessageSearch) }
  })

export const cassandraSearchRepair = (it: Vitest.MethodsNonLive<CassandraClient | Rooms | Messages>) =>
  describe("cassandra: search index (repair, room deletion)", () => {
    it.effect("a batch whose terms were cut off after the commit is indexed by the next claim", () =>
      Effect.gen(function* () {
        const cut = { on: false }
        const { messages, search } = yield* cutStorage(cut)
        const roomId = newRoom(newUserId()).id
        const word = unique("cut").replaceAll("-", "")
        const clock = makeTimeUuidClock()
        const now = Date.now()
        const message = (seq: number, text: string): MessageRecord => ({
          roomId,
          id: clock.next(now + seq) as MessageId,
          seq,
          userId: newUserId(),
          username: "ada",
          text,
          clientMsgId: null,
          createdAt: now + seq,
          ...plainMessage
        })
        const found = Effect.map(search.search({ rooms: [roomId], terms: [word], before: null, limit: 10 }), (hits) =>
          hits.map((m) => m.text)
        )
        const first = yield* messages.claim(roomId)
        yield* messages.append(roomId, [message(1, `${word} one`)], { epoch: first.epoch, afterSeq: 0 })

        cut.on = true
        const batch = [message(2, `${word} two`), message(3, `three ${word}`)]
        const failed = yield* Effect.exit(messages.append(roomId, batch, { epoch: first.epoch, afterSeq: 1 }))
        assert.isTrue(Exit.isFailure(failed))
        // Committed, but not indexed.
        assert.strictEqual((yield* messages.listAfter(roomId, { after: null, limit: 10 })).length, 3)
        assert.deepStrictEqual(yield* found, [`${word} one`])
        cut.on = false

        const next = yield* messages.claim(roomId)
        assert.deepStrictEqual(next.repaired, batch)
        assert.deepStrictEqual(yield* found, [`three ${word}`, `${word} two`, `${word} one`])
      }).pipe(Effect.scoped)
    )
    it.effect("deleting a room deletes its search index: every indexed day's shards and the list of days", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const rooms = yield* Rooms
        const messages = yield* Messages
        const owner = newUserId()
        const room = newRoom(owner, "public")
        yield* rooms.create(room)
        const clock = makeTimeUuidClock()
        const day = 86_400_000
        const start = Date.now() - 3 * day
        // Many distinct words over three days: entries in several shards of each day.
        const batch = [0, 1, 2].map(
          (d): MessageRecord => ({
            roomId: room.id,
            id: clock.next(start + d * day) as MessageId,
            seq: d + 1,
            userId: owner,
            username: "owner",
            text: Array.from({ length: 40 }, (_, i) => `w${d}x${i}`).join(" "),
            clientMsgId: null,
            createdAt: start + d * day,
            ...plainMessage
          })
        )
        yield* appendAsOwner(messages, room.id, batch)
        const periods = Effect.map(
          db.execute("test", "SELECT period FROM room_search_periods WHERE room_id = ?", [uuid(room.id)]),
          (rs) => rs.rows.map((row) => row.get("period") as Date)
        )
        const indexed = yield* periods
        assert.strictEqual(indexed.length, 3)
        const entries = Effect.map(
          Effect.forEach(indexed, (period) =>
            db.execute("test", "SELECT shard FROM room_search_terms WHERE room_id = ? AND period = ? AND shard IN ?", [
              uuid(room.id),
              period,
              [0, 1, 2, 3, 4, 5, 6, 7]
            ])
          ),
          (sets) => sets.reduce((n, rs) => n + rs.rows.length, 0)
        )
        assert.strictEqual(yield* entries, 120)
        assert.isTrue(yield* rooms.delete(room.id))
        assert.strictEqual(yield* entries, 0)
        assert.deepStrictEqual(yield* periods, [])
      })
    )
  })
