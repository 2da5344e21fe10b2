/**
 * Cassandra's client-id entries (`room_client_ids`) at the sizes of a busy room's group
 * commit: they hold no text (a lookup reads the message from the partition they name) and go
 * out in as many unlogged batches as Cassandra's multi-partition batch limit (50 KiB) needs.
 */
import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock } from "@parley/domain"
import { Effect, Option } from "effect"
import type { CassandraClient } from "../src/cassandra/client.ts"
import { type MessageRecord, Messages, plainMessage } from "../src/index.ts"
import { newRoom, newUserId } from "./fixtures.ts"

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
  })
