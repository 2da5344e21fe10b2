/**
 * Edits and deletes in the room actor (SQLite in memory): checked against the target as the
 * actor holds it, without a read for what it stored itself; refused ones take no `seq`; a
 * batch may send a message's changes together.
 */
import { assert, describe, it } from "@effect/vitest"
import { type MessageId, type RoomId, timeUuidFrom, type UserId } from "@parley/domain"
import { Messages, SqliteStorage } from "@parley/storage"
import { Duration, Effect, Exit, Layer } from "effect"
import type { Change } from "../src/chat/message-changes.ts"
import { RoomActors, type SendRequest } from "../src/chat/room-actor.ts"
import { Broker } from "../src/realtime/broker.ts"

/** SQLite's `Messages`, counting `find` calls (the actor's reads of a target it does not hold). */
const counting = (finds: { count: number }) =>
  Layer.effect(
    Messages,
    Effect.map(Messages, (real) =>
      Messages.of({
        ...real,
        find: (roomId, id) =>
          Effect.andThen(
            Effect.sync(() => finds.count++),
            real.find(roomId, id)
          )
      })
    )
  ).pipe(Layer.provideMerge(SqliteStorage.layer(":memory:")))

const withActors = <A, E>(
  body: (actors: RoomActors["Service"], finds: { count: number }) => Effect.Effect<A, E, Messages>
) => {
  const finds = { count: 0 }
  const layer = RoomActors.layer({
    mailboxCapacity: 1024,
    maxBatch: 128,
    maxBatchBytes: 40 * 1024,
    idleTimeout: Duration.minutes(1)
  }).pipe(Layer.provideMerge(Layer.merge(counting(finds), Broker.layerMemory)))
  return Effect.flatMap(RoomActors, (actors) => body(actors, finds)).pipe(Effect.provide(layer), Effect.scoped)
}

const ada = crypto.randomUUID() as UserId
const bob = crypto.randomUUID() as UserId
const roomId = () => crypto.randomUUID() as RoomId
const send = (r: RoomId, text: string, userId = ada, change?: Change): SendRequest => ({
  roomId: r,
  userId,
  username: userId === ada ? "ada" : "bob",
  text,
  clientMsgId: null,
  change
})
const edit = (target: string, moderator = false): Change => ({
  kind: "edit",
  targetId: target as MessageId,
  moderator
})
const del = (target: string, moderator = false): Change => ({
  kind: "delete",
  targetId: target as MessageId,
  moderator
})

describe("room actor: edits and deletes", () => {
  it.effect("changes a message it stored without reading it; refusals take no seq", () =>
    withActors((actors, finds) =>
      Effect.gen(function* () {
        const r = roomId()
        const m = yield* actors.send(send(r, "hello"))
        const e = yield* actors.send(send(r, "hello!", ada, edit(m.msg_id)))
        assert.deepStrictEqual([e.seq, e.kind, e.target_id], [2, "edit", m.msg_id])
        const refused = yield* Effect.exit(actors.send(send(r, "mine", bob, edit(m.msg_id))))
        assert.isTrue(Exit.isFailure(refused) && JSON.stringify(refused).includes("Forbidden"))
        const unknown = timeUuidFrom(Date.now(), 0)
        const missing = yield* Effect.exit(actors.send(send(r, "x", ada, edit(unknown))))
        assert.isTrue(Exit.isFailure(missing) && JSON.stringify(missing).includes("NotFound"))
        const d = yield* actors.send(send(r, "", bob, del(m.msg_id, true)))
        assert.strictEqual(d.seq, 3)
        // The edit's own entry is not a message; the deleted message takes no more changes.
        for (const change of [edit(e.msg_id), edit(m.msg_id), del(m.msg_id)]) {
          const again = yield* Effect.exit(actors.send(send(r, "again", ada, change)))
          assert.isTrue(Exit.isFailure(again) && JSON.stringify(again).includes("NotFound"))
        }
        // Only the unknown id needed a read: everything else was held.
        assert.strictEqual(finds.count, 1)
        const stored = yield* Effect.flatMap(Messages, (s) => s.listAfter(r, { after: null, limit: 10 }))
        assert.deepStrictEqual(
          stored.map((x) => [x.seq, x.kind, x.text, x.deletedBy]),
          [
            [1, "message", "", bob],
            [2, "edit", "hello!", null],
            [3, "delete", "", null]
          ]
        )
      })
    )
  )

  it.effect("a message's changes sent together are checked in order within one batch", () =>
    withActors((actors) =>
      Effect.gen(function* () {
        const r = roomId()
        const m = yield* actors.send(send(r, "one"))
        const waits = yield* Effect.forEach(
          [send(r, "two", ada, edit(m.msg_id)), send(r, "", ada, del(m.msg_id)), send(r, "three", ada, edit(m.msg_id))],
          (s) => actors.submit(s)
        )
        const outcomes = yield* Effect.forEach(waits, Effect.exit)
        assert.deepStrictEqual(
          outcomes.map((o) => (Exit.isSuccess(o) ? o.value.seq : "refused")),
          [2, 3, "refused"]
        )
      })
    )
  )

  it.effect("after a claim (another node may have changed them) held messages are read again", () =>
    withActors((actors, finds) =>
      Effect.gen(function* () {
        const r = roomId()
        const m = yield* actors.send(send(r, "one"))
        yield* actors.forget(r)
        yield* actors.send(send(r, "uno", ada, edit(m.msg_id)))
        assert.strictEqual(finds.count, 1)
      })
    )
  )
})
