import { assert, describe, layer } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock } from "@parley/domain"
import { Effect, Option } from "effect"
import { type MessageRecord, Messages, plainMessage, SqliteStorage } from "../src/index.ts"
import { queries as auditQueries } from "../src/sqlite/audit.ts"
import { SqliteDatabase } from "../src/sqlite/database.ts"
import { queries as messageQueries } from "../src/sqlite/messages.ts"
import { queries as roomQueries } from "../src/sqlite/rooms.ts"
import { query as statsQuery } from "../src/sqlite/stats.ts"
import { queries as userQueries } from "../src/sqlite/users.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { conformance } from "./conformance.ts"
import { newRoom, newUserId } from "./fixtures.ts"

conformance("sqlite", SqliteStorage.layer(":memory:"))

/** Guarantees SQLite gives beyond the shared contract, where Cassandra leaves them to the caller. */
layer(SqliteStorage.layer(":memory:"))("sqlite: atomic appends", (it) => {
  const clock = makeTimeUuidClock()
  const roomId = newRoom(newUserId()).id
  const userId = newUserId()
  const message = (seq: number, clientMsgId: string | null = null): MessageRecord => ({
    roomId,
    id: clock.next(Date.now()) as MessageId,
    seq,
    userId,
    username: "sam",
    text: `message ${seq}`,
    clientMsgId,
    createdAt: Date.now(),
    ...plainMessage
  })

  it.effect("a batch repeating a stored client_msg_id fails whole, storing none of it", () =>
    Effect.gen(function* () {
      const messages = yield* Messages
      const first = message(1, "once")
      yield* appendAsOwner(messages, roomId, [first])
      const error = yield* Effect.flip(appendAsOwner(messages, roomId, [message(2), message(3, "once")]))
      // Its own error, for the room actor to look the key up then rather than before every append.
      assert.strictEqual(error._tag, "ClientMsgIdStored")
      assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: null, limit: 10 }), [first])
      assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, userId, "once"), Option.some(first))
    })
  )

  it.effect("a batch with a duplicate seq fails whole, storing none of it", () =>
    Effect.gen(function* () {
      const messages = yield* Messages
      const before = Option.getOrThrow(yield* messages.latest(roomId))
      const next = before.seq + 1
      const error = yield* Effect.flip(
        appendAsOwner(messages, roomId, [message(next, "new"), message(next + 1), message(next + 1)])
      )
      assert.strictEqual(error._tag, "StorageError")
      assert.deepStrictEqual(yield* messages.latest(roomId), Option.some(before))
      assert.isTrue(Option.isNone(yield* messages.findByClientMsgId(roomId, userId, "new")))
    })
  )
})

describe("sqlite: query plans", () => {
  layer(SqliteDatabase.layer(":memory:"))((it) => {
    // "SEARCH" reads a key range of an index; "SCAN" would read a whole table or index.
    const reads = Object.entries({ ...roomQueries, ...messageQueries, ...userQueries, ...auditQueries }).filter(
      ([, sql]) => !sql.startsWith("INSERT")
    )
    for (const [name, sql] of reads) {
      it.effect(`${name} searches an index`, () =>
        Effect.gen(function* () {
          const db = yield* SqliteDatabase
          const plan = yield* db.all<{ detail: string }>("plan", `EXPLAIN QUERY PLAN ${sql}`)
          assert.isNotEmpty(plan)
          // A list bound as JSON (`json_each(?) AS k`) is read whole: it is the keys, not a table.
          const steps = plan.filter((step) => !/^SCAN k VIRTUAL TABLE/.test(step.detail))
          for (const step of steps) assert.match(step.detail, /^SEARCH /, `${name}: ${step.detail}`)
        })
      )
    }

    // Not the room's messages searched by room_id for each key list: each key, in its index.
    it.effect("findByClientMsgIds looks each key up in room_messages_by_client_id", () =>
      Effect.gen(function* () {
        const db = yield* SqliteDatabase
        const plan = yield* db.all<{ detail: string }>(
          "plan",
          `EXPLAIN QUERY PLAN ${messageQueries.findByClientMsgIds}`
        )
        assert.deepStrictEqual(
          plan.map((step) => step.detail),
          [
            "SCAN k VIRTUAL TABLE INDEX 1:",
            "SEARCH m USING INDEX room_messages_by_client_id (room_id=? AND user_id=? AND client_msg_id=?)"
          ]
        )
      })
    )

    // Counting a whole table is fine for operators' stats; the day's messages come from an index range.
    it.effect("stats counts the day's messages from the created_at index", () =>
      Effect.gen(function* () {
        const db = yield* SqliteDatabase
        const plan = yield* db.all<{ detail: string }>("plan", `EXPLAIN QUERY PLAN ${statsQuery}`)
        const messages = plan.filter((step) => step.detail.includes("room_messages"))
        assert.strictEqual(messages.length, 1)
        assert.match(
          messages[0]!.detail,
          /^SEARCH room_messages USING COVERING INDEX room_messages_by_time \(created_at>\?\)/
        )
      })
    )
  })
})
