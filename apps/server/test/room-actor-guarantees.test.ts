/**
 * The room actor's written guarantees, each in a test that fails when it breaks: broadcast
 * only after store (nothing from a failed write, a batch as one publish in `seq` order), and
 * a retry after the actor restarted answered from storage. SQLite in memory, TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import type { MessageView, RoomId, UserId } from "@parley/domain"
import { Messages, SqliteStorage, StorageError } from "@parley/storage"
import { Duration, Effect, Fiber, Latch, Layer } from "effect"
import { TestClock } from "effect/testing"
import { RoomActors, type SendRequest } from "../src/chat/room-actor.ts"
import { Broker, type RoomEvent } from "../src/realtime/broker.ts"

interface Published {
  readonly seqs: ReadonlyArray<number>
  /** The room's stored `seq`s at the moment of the publish. */
  readonly storedThen: ReadonlyArray<number>
}

/**
 * SQLite storage whose `append` can be held (gate) or made to fail, and a broker that
 * records every message publish together with what storage held at that moment.
 */
const makeWorld = Effect.gen(function* () {
  const gate = yield* Latch.make(true)
  const state = { failing: false, landsButFails: false, publishes: [] as Array<Published> }
  const storage = Layer.effect(
    Messages,
    Effect.gen(function* () {
      const real = yield* Messages
      return Messages.of({
        ...real,
        append: (...args: Parameters<typeof real.append>) =>
          Effect.gen(function* () {
            yield* gate.await
            if (state.failing) return yield* new StorageError({ operation: "append", cause: new Error("disk on fire") })
            yield* real.append(...args)
            // A write that timed out on the client yet landed: stored, reported as failed.
            if (state.landsButFails)
              return yield* new StorageError({ operation: "append", cause: new Error("timeout") })
          })
      })
    })
  ).pipe(Layer.provideMerge(SqliteStorage.layer(":memory:")))
  const broker = Layer.effect(
    Broker,
    Effect.gen(function* () {
      const messages = yield* Messages
      return Broker.of({
        publish: (roomId, event: RoomEvent) =>
          Effect.gen(function* () {
            if (event.kind !== "messages") return
            const stored = yield* Effect.orDie(messages.listAfter(roomId, { after: null, limit: 1000 }))
            state.publishes.push({ seqs: event.messages.map((m) => m.seq), storedThen: stored.map((m) => m.seq) })
          }),
        subscribe: () => Effect.void
      })
    })
  )
  const actors = RoomActors.layer({
    mailboxCapacity: 1024,
    maxBatch: 128,
    maxBatchBytes: 40 * 1024,
    idleTimeout: Duration.minutes(1)
  }).pipe(Layer.provideMerge(broker), Layer.provideMerge(storage))
  return { gate, state, actors }
})

const withWorld = <A, E>(
  body: (world: {
    readonly actors: RoomActors["Service"]
    readonly gate: Latch.Latch
    readonly state: { failing: boolean; landsButFails: boolean; publishes: Array<Published> }
  }) => Effect.Effect<A, E, Messages>
) =>
  Effect.gen(function* () {
    const { gate, state, actors } = yield* makeWorld
    return yield* Effect.flatMap(RoomActors, (a) => body({ actors: a, gate, state })).pipe(
      Effect.provide(actors),
      Effect.scoped
    )
  })

const user = crypto.randomUUID() as UserId
const room = () => crypto.randomUUID() as RoomId
const send = (roomId: RoomId, text: string, clientMsgId: string | null = null): SendRequest => ({
  roomId,
  userId: user,
  username: "ada",
  text,
  clientMsgId
})

/** Lets forked fibers run up to their next wait. */
const settle = Effect.yieldNow.pipe(Effect.repeat({ times: 20 }))

const storedRows = (roomId: RoomId) =>
  Effect.flatMap(Messages, (m) => m.listAfter(roomId, { after: null, limit: 1000 }))

describe("room actor guarantees", () => {
  it.effect("a failed write publishes nothing; the next write publishes only what it stored", () =>
    withWorld(({ actors, state }) =>
      Effect.gen(function* () {
        const r = room()
        state.failing = true
        const failed = yield* Effect.flip(actors.send(send(r, "lost")))
        assert.strictEqual(failed._tag, "ServiceUnavailable")
        assert.deepStrictEqual(state.publishes, [])
        state.failing = false
        const ok = yield* actors.send(send(r, "kept"))
        assert.deepStrictEqual(state.publishes, [{ seqs: [ok.seq], storedThen: [1] }])
      })
    )
  )

  it.effect("a batch is published once, after its write, in seq order", () =>
    withWorld(({ actors, gate, state }) =>
      Effect.gen(function* () {
        const r = room()
        yield* gate.close
        const first = yield* Effect.forkChild(actors.send(send(r, "m0")))
        yield* settle
        const waits = yield* Effect.forEach([1, 2, 3, 4, 5], (i) => actors.submit(send(r, `m${i}`)))
        // Held at the gate: nothing may be broadcast before it is stored.
        assert.deepStrictEqual(state.publishes, [])
        yield* gate.open
        const views: Array<MessageView> = [yield* Fiber.join(first), ...(yield* Effect.all(waits))]
        assert.deepStrictEqual(
          views.map((v) => v.seq),
          [1, 2, 3, 4, 5, 6]
        )
        assert.deepStrictEqual(state.publishes, [
          { seqs: [1], storedThen: [1] },
          { seqs: [2, 3, 4, 5, 6], storedThen: [1, 2, 3, 4, 5, 6] }
        ])
      })
    )
  )

  it.effect("a retry after the actor went idle is answered from storage: same msg_id, one row", () =>
    withWorld(({ actors }) =>
      Effect.gen(function* () {
        const r = room()
        const original = yield* actors.send(send(r, "hello", "c-1"))
        yield* TestClock.adjust("2 minutes")
        yield* settle
        assert.strictEqual(yield* actors.active, 0)
        const retry = yield* actors.send(send(r, "hello", "c-1"))
        assert.strictEqual(retry.msg_id, original.msg_id)
        assert.strictEqual(retry.seq, original.seq)
        assert.deepStrictEqual(
          (yield* storedRows(r)).map((m) => m.text),
          ["hello"]
        )
      })
    )
  )

  it.effect("a retry after the actor was retired (its shard moved) is answered from storage", () =>
    withWorld(({ actors }) =>
      Effect.gen(function* () {
        const r = room()
        const original = yield* actors.send(send(r, "hello", "c-1"))
        yield* actors.send(send(r, "other", "c-2"))
        yield* actors.retire(r)
        assert.strictEqual(yield* actors.active, 0)
        const retry = yield* actors.send(send(r, "hello", "c-1"))
        assert.strictEqual(retry.msg_id, original.msg_id)
        assert.deepStrictEqual(
          (yield* storedRows(r)).map((m) => [m.seq, m.text]),
          [
            [1, "hello"],
            [2, "other"]
          ]
        )
      })
    )
  )

  it.effect("a write that failed yet landed: the retry gets the stored original, broadcast once it is known", () =>
    withWorld(({ actors, state }) =>
      Effect.gen(function* () {
        const r = room()
        state.landsButFails = true
        assert.strictEqual((yield* Effect.flip(actors.send(send(r, "maybe", "c-1"))))._tag, "ServiceUnavailable")
        state.landsButFails = false
        // Never announced: the failed write published nothing.
        assert.deepStrictEqual(state.publishes, [])
        const retry = yield* actors.send(send(r, "maybe", "c-1"))
        const [row] = yield* storedRows(r)
        assert.strictEqual(retry.msg_id, row!.id)
        assert.strictEqual((yield* storedRows(r)).length, 1)
        assert.deepStrictEqual(state.publishes, [{ seqs: [1], storedThen: [1] }])
      })
    )
  )
})
