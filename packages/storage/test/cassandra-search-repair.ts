/**
 * Search words on Cassandra live in the message rows, one set per group commit on its last row
 * (cql/011_search_in_rows.cql, cql/013_search_per_batch.cql), on the real node: a commit's
 * messages are all found by that one set; an edit of a message in an older partition must move
 * the words it is found by with its text, also when the update after the commit was cut off (the writer died) and the next
 * claim re-applies it; a deleted room's messages are found no more.
 */
import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock, type RoomId } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Context, Effect, Exit, Layer } from "effect"
import { CassandraClient, uuid } from "../src/cassandra/client.ts"
import { CassandraMessages } from "../src/cassandra/messages.ts"
import { CassandraSearch } from "../src/cassandra/search.ts"
import { type MessageRecord, MessageSearch, Messages, plainMessage, Rooms, StorageError } from "../src/index.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { newRoom, newUserId, unique, testMessageBucketMs as w } from "./fixtures.ts"

/** Cassandra's `Messages` and `MessageSearch` whose updates of edited messages in older partitions fail while `cut.on`. */
const cutStorage = (cut: { on: boolean }) =>
  Effect.gen(function* () {
    const real = yield* CassandraClient
    const client = CassandraClient.of({
      ...real,
      executeUnguarded: (operation, query, params, options) =>
        operation === "messages.append.target" && cut.on
          ? Effect.fail(
              new StorageError({ operation, cause: new cassandra.errors.OperationTimedOutError("test: node died") })
            )
          : real.executeUnguarded(operation, query, params, options)
    })
    const context = yield* Layer.build(
      Layer.merge(CassandraMessages(w), CassandraSearch).pipe(Layer.provide(Layer.succeed(CassandraClient, client)))
    )
    return { messages: Context.get(context, Messages), search: Context.get(context, MessageSearch) }
  })

const message = (roomId: RoomId, id: MessageId, seq: number, text: string): MessageRecord => ({
  roomId,
  id,
  seq,
  userId: newUserId(),
  username: "ada",
  text,
  clientMsgId: null,
  createdAt: Date.now(),
  ...plainMessage
})

export const cassandraSearchRepair = (it: Vitest.MethodsNonLive<CassandraClient | Rooms | Messages>) =>
  describe("cassandra: search words in the message rows (edits, repair, room deletion)", () => {
    it.effect("an edit cut off after its commit moves the words its target is found by once a claim repairs it", () =>
      Effect.gen(function* () {
        const cut = { on: false }
        const { messages, search } = yield* cutStorage(cut)
        const roomId = newRoom(newUserId()).id
        const before = unique("before").replaceAll("-", "")
        const after = unique("after").replaceAll("-", "")
        const clock = makeTimeUuidClock()
        const now = Date.now()
        const found = (word: string) =>
          Effect.map(search.search({ rooms: [roomId], terms: [word], before: null, limit: 10 }), (hits) =>
            hits.map((m) => m.text)
          )
        const target = message(roomId, clock.next(now) as MessageId, 1, `${before} one`)
        const head = yield* messages.claim(roomId)
        yield* messages.append(roomId, [target], { epoch: head.epoch, afterSeq: 0 })
        assert.deepStrictEqual(yield* found(before), [`${before} one`])

        // Several windows later: the edit lands in a newer partition than its target.
        const edit: MessageRecord = {
          ...message(roomId, clock.next(now + 10 * w) as MessageId, 2, `${after} one`),
          kind: "edit",
          targetId: target.id
        }
        cut.on = true
        const failed = yield* Effect.exit(messages.append(roomId, [edit], { epoch: head.epoch, afterSeq: 1 }))
        assert.isTrue(Exit.isFailure(failed))
        assert.deepStrictEqual(yield* found(after), [])
        cut.on = false

        yield* messages.claim(roomId)
        assert.deepStrictEqual(yield* found(after), [`${after} one`])
        assert.deepStrictEqual(yield* found(before), [])
      }).pipe(Effect.scoped)
    )

    it.effect("a group commit's words are indexed once, on its last row, and find every message", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const search = Context.get(yield* Layer.build(CassandraSearch), MessageSearch)
        const roomId = newRoom(newUserId()).id
        const word = unique("chunk").replaceAll("-", "")
        const clock = makeTimeUuidClock()
        // One millisecond for all five: the batch never straddles two of the tests' 50 ms partitions.
        const at = Date.now()
        const batch = Array.from({ length: 5 }, (_, i) =>
          message(roomId, clock.next(at) as MessageId, i + 1, `${word} number ${i}`)
        )
        yield* appendAsOwner(messages, roomId, batch)
        const db = yield* CassandraClient
        const bucket = (yield* db.execute("test", "SELECT bucket FROM room_buckets WHERE room_id = ?", [uuid(roomId)]))
          .first()!
          .get("bucket") as Date
        const indexed = (yield* db.execute(
          "test",
          "SELECT msg_id, terms_from FROM room_messages WHERE room_id = ? AND bucket = ? AND terms CONTAINS ?",
          [uuid(roomId), bucket, word]
        )).rows.map((row) => [row.get("msg_id").toString(), row.get("terms_from")?.toString()])
        assert.deepStrictEqual(indexed, [[batch[4]!.id, batch[0]!.id]])
        const found = yield* search.search({ rooms: [roomId], terms: [word], before: null, limit: 10 })
        assert.deepStrictEqual(
          found.map((m) => m.id),
          batch.map((m) => m.id).reverse()
        )
      }).pipe(Effect.scoped)
    )

    it.effect("a deleted room's messages are found no more, and its rows with their words are gone", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const messages = yield* Messages
        const search = Context.get(yield* Layer.build(CassandraSearch), MessageSearch)
        const owner = newUserId()
        const room = newRoom(owner, "public")
        yield* rooms.create(room)
        const word = unique("gone").replaceAll("-", "")
        const clock = makeTimeUuidClock()
        yield* appendAsOwner(messages, room.id, [message(room.id, clock.next(Date.now()) as MessageId, 1, word)])
        const found = Effect.map(search.search({ rooms: [room.id], terms: [word], before: null, limit: 10 }), (hits) =>
          hits.map((m) => m.text)
        )
        assert.deepStrictEqual(yield* found, [word])
        // The rows themselves, by their words: search also stops at the room's partition list.
        const db = yield* CassandraClient
        const bucket = (yield* db.execute("test", "SELECT bucket FROM room_buckets WHERE room_id = ?", [uuid(room.id)]))
          .first()!
          .get("bucket") as Date
        const rows = Effect.map(
          db.execute("test", "SELECT msg_id FROM room_messages WHERE room_id = ? AND bucket = ? AND terms CONTAINS ?", [
            uuid(room.id),
            bucket,
            word
          ]),
          (rs) => rs.rows.length
        )
        assert.strictEqual(yield* rows, 1)
        assert.isTrue(yield* rooms.delete(room.id))
        assert.deepStrictEqual(yield* found, [])
        assert.strictEqual(yield* rows, 0)
      }).pipe(Effect.scoped)
    )
  })
