/**
 * An edit of a message in an older Cassandra partition cut apart on the real node: the commit
 * (the edit's own row, in the live partition) applies, the target's update after it does not,
 * as if the node died in between. The next claim must re-apply it (cql/007_edits.cql).
 */
import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Context, Effect, Exit, Layer, Option } from "effect"
import { CassandraClient } from "../src/cassandra/client.ts"
import { CassandraMessages } from "../src/cassandra/messages.ts"
import { type MessageRecord, Messages, plainMessage, StorageError } from "../src/index.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { newRoom, newUserId, testMessageBucketMs as w } from "./fixtures.ts"

/** Cassandra's `Messages` whose target updates (after the commit) fail while `cut.on`. */
const cutMessages = (cut: { on: boolean }) =>
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
    const context = yield* Layer.build(CassandraMessages(w).pipe(Layer.provide(Layer.succeed(CassandraClient, client))))
    return Context.get(context, Messages)
  })

export const cassandraEditRepair = (it: Vitest.MethodsNonLive<CassandraClient>) =>
  describe("cassandra: edits of older partitions", () => {
    it.effect("an edit whose target update was cut off after the commit is applied by the next claim", () =>
      Effect.gen(function* () {
        const cut = { on: false }
        const messages = yield* cutMessages(cut)
        const roomId = newRoom(newUserId()).id
        const ada = newUserId()
        const clock = makeTimeUuidClock()
        const t0 = Math.floor((Date.now() - 3_600_000) / w) * w
        const at = (ms: number): MessageRecord => ({
          roomId,
          id: clock.next(ms) as MessageId,
          seq: 0,
          userId: ada,
          username: "ada",
          text: "",
          clientMsgId: null,
          createdAt: ms,
          ...plainMessage
        })
        const old = { ...at(t0 + 1), seq: 1, text: "old" }
        const live = { ...at(t0 + 10 * w), seq: 2, text: "live" }
        yield* appendAsOwner(messages, roomId, [old])
        yield* appendAsOwner(messages, roomId, [live])
        const edit: MessageRecord = {
          ...at(t0 + 10 * w + 1),
          seq: 3,
          kind: "edit",
          targetId: old.id,
          text: "old, edited",
          clientMsgId: "e-1"
        }

        cut.on = true
        const owner = yield* messages.claim(roomId)
        const failed = yield* Effect.exit(messages.append(roomId, [edit], { epoch: owner.epoch, afterSeq: 2 }))
        assert.isTrue(Exit.isFailure(failed))
        // The edit's row committed; its target was never written.
        assert.deepStrictEqual(
          (yield* messages.listAfter(roomId, { after: null, limit: 10 })).map((m) => m.text),
          ["old", "live", "old, edited"]
        )
        cut.on = false

        const next = yield* messages.claim(roomId)
        assert.deepStrictEqual(next.repaired, [edit])
        const target = Option.getOrThrow(yield* messages.find(roomId, old.id))
        assert.deepStrictEqual([target.text, target.editedAt], ["old, edited", edit.createdAt])
      }).pipe(Effect.scoped)
    )
  })
