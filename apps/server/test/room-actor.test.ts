/**
 * The room actor on SQLite in memory, with storage that a test can hold (to pile up a
 * mailbox) or break (to see what is acknowledged). Time is the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { type MessageId, type RoomId, timeUuidFrom, type UserId } from "@parley/domain"
import { Messages, plainMessage, SqliteStorage, StorageError } from "@parley/storage"
import { Duration, Effect, Exit, Fiber, Latch, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { RoomActors, type SendRequest, splitByBytes } from "../src/chat/room-actor.ts"
import { Broker } from "../src/realtime/broker.ts"

/** Storage as SQLite has it, plus a gate on `append` and a switch that makes it fail. */
const makeStorage = Effect.gen(function* () {
  const gate = yield* Latch.make(true)
  /** Opens when a write has reached storage (and is waiting at the gate, if it is closed). */
  const entered = yield* Latch.make(false)
  const state = { failing: new Set<string>(), batches: [] as Array<{ room: RoomId; size: number }> }
  const layer = Layer.effect(
    Messages,
    Effect.gen(function* () {
      const real = yield* Messages
      return Messages.of({
        ...real,
        append: (roomId, batch, fence) =>
          Effect.gen(function* () {
            yield* entered.open
            yield* gate.await
            if (state.failing.has(roomId)) {
              return yield* new StorageError({ operation: "append", cause: new Error("disk on fire") })
            }
            state.batches.push({ room: roomId, size: batch.length })
            yield* real.append(roomId, batch, fence)
          })
      })
    })
  ).pipe(Layer.provideMerge(SqliteStorage.layer(":memory:")))
  return { gate, entered, state, layer }
})

const withActors = <A, E>(
  options: { mailboxCapacity?: number; idleTimeout?: Duration.Input },
  body: (context: {
    readonly actors: RoomActors["Service"]
    readonly gate: Latch.Latch
    readonly state: { failing: Set<string>; batches: Array<{ room: RoomId; size: number }> }
  }) => Effect.Effect<A, E, Messages>
) =>
  Effect.gen(function* () {
    const { gate, state, layer } = yield* makeStorage
    const actors = RoomActors.layer({
      mailboxCapacity: options.mailboxCapacity ?? 1024,
      maxBatch: 128,
      maxBatchBytes: 40 * 1024,
      idleTimeout: Duration.fromInputUnsafe(options.idleTimeout ?? "1 minute")
    }).pipe(Layer.provideMerge(Layer.merge(layer, Broker.layerMemory)))
    return yield* Effect.flatMap(RoomActors, (a) => body({ actors: a, gate, state })).pipe(
      Effect.provide(actors),
      Effect.scoped
    )
  })

const room = () => crypto.randomUUID() as RoomId
const user = crypto.randomUUID() as UserId
const send = (roomId: RoomId, text: string, clientMsgId: string | null = null): SendRequest => ({
  roomId,
  userId: user,
  username: "ada",
  text,
  clientMsgId
})

/** Lets forked fibers run up to their next wait. */
const settle = Effect.yieldNow.pipe(Effect.repeat({ times: 20 }))

describe("room actor", () => {
  it.effect("stores what piles up during a slow write in one batch, in mailbox order", () =>
    withActors({}, ({ actors, gate, state }) =>
      Effect.gen(function* () {
        const r = room()
        yield* gate.close
        const first = yield* Effect.forkChild(actors.send(send(r, "m0")))
        yield* settle
        const waits = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => send(r, `m${i + 1}`)),
          (s) => actors.submit(s)
        )
        yield* gate.open
        const views = [yield* Fiber.join(first), ...(yield* Effect.all(waits))]
        assert.deepStrictEqual(
          views.map((v) => [v.seq, v.text]),
          views.map((_, i) => [i + 1, `m${i}`])
        )
        assert.deepStrictEqual(
          state.batches.map((b) => b.size),
          [1, 20]
        )
        const stored = yield* Effect.flatMap(Messages, (m) => m.listAfter(r, { after: null, limit: 100 }))
        assert.deepStrictEqual(
          stored.map((m) => m.id),
          views.map((v) => v.msg_id as MessageId)
        )
      })
    )
  )

  it.effect("a reply that throws fails neither the rest of its batch nor the actor", () =>
    withActors({}, ({ actors, gate }) =>
      Effect.gen(function* () {
        const r = room()
        yield* gate.close
        const first = yield* Effect.forkChild(actors.send(send(r, "m0")))
        yield* settle
        // Answered in the same batch as the next send, from the actor's fiber.
        yield* actors.submitWith(send(r, "its caller has a bug"), () => {
          throw new Error("a caller's bug")
        })
        const after = yield* actors.submit(send(r, "after it"))
        yield* gate.open
        yield* Fiber.join(first)
        assert.strictEqual((yield* after).seq, 3)
        assert.strictEqual((yield* actors.send(send(r, "next"))).seq, 4)
      })
    )
  )

  it.effect("refuses with Overloaded when the mailbox is full, and loses nothing it accepted", () =>
    withActors({ mailboxCapacity: 3 }, ({ actors, gate }) =>
      Effect.gen(function* () {
        const r = room()
        yield* gate.close
        const inFlight = yield* Effect.forkChild(actors.send(send(r, "in flight")))
        yield* settle
        const queued = yield* Effect.forEach([1, 2, 3], (i) => actors.submit(send(r, `q${i}`)))
        const refused = yield* Effect.flip(actors.submit(send(r, "one too many")))
        assert.strictEqual(refused._tag, "Overloaded")
        yield* gate.open
        yield* Fiber.join(inFlight)
        const views = yield* Effect.all(queued)
        assert.deepStrictEqual(
          views.map((v) => v.seq),
          [2, 3, 4]
        )
      })
    )
  )

  it.effect("acknowledges nothing when storage fails, then carries on without a gap", () =>
    withActors({}, ({ actors, state }) =>
      Effect.gen(function* () {
        const r = room()
        assert.strictEqual((yield* actors.send(send(r, "before"))).seq, 1)
        state.failing.add(r)
        const failed = yield* Effect.exit(actors.send(send(r, "during")))
        assert.isTrue(Exit.isFailure(failed))
        assert.include(String(failed), "ServiceUnavailable")
        state.failing.delete(r)
        assert.strictEqual((yield* actors.send(send(r, "after"))).seq, 2)
        const stored = yield* Effect.flatMap(Messages, (m) => m.listAfter(r, { after: null, limit: 10 }))
        assert.deepStrictEqual(
          stored.map((m) => m.text),
          ["before", "after"]
        )
      })
    )
  )

  it.effect("one room's failing storage does not touch another room", () =>
    withActors({}, ({ actors, state }) =>
      Effect.gen(function* () {
        const broken = room()
        const healthy = room()
        state.failing.add(broken)
        const [a, b] = yield* Effect.all(
          [Effect.exit(actors.send(send(broken, "x"))), actors.send(send(healthy, "y"))],
          {
            concurrency: 2
          }
        )
        assert.isTrue(Exit.isFailure(a))
        assert.strictEqual(b.seq, 1)
      })
    )
  )

  it.effect("a retried client_msg_id is stored once and answered with the original", () =>
    withActors({}, ({ actors, gate }) =>
      Effect.gen(function* () {
        const r = room()
        yield* gate.close
        const blocker = yield* Effect.forkChild(actors.send(send(r, "first")))
        yield* settle
        // Same batch: two attempts of one send.
        const twins = yield* Effect.forEach([1, 2], () => actors.submit(send(r, "hi", "c-1")))
        yield* gate.open
        yield* Fiber.join(blocker)
        const [a, b] = yield* Effect.all(twins)
        assert.strictEqual(a!.msg_id, b!.msg_id)
        // Later batch: answered from what is stored.
        const again = yield* actors.send(send(r, "hi", "c-1"))
        assert.strictEqual(again.msg_id, a!.msg_id)
        const stored = yield* Effect.flatMap(Messages, (m) => m.listAfter(r, { after: null, limit: 10 }))
        assert.deepStrictEqual(
          stored.map((m) => m.text),
          ["first", "hi"]
        )
      })
    )
  )

  it.effect("an idle actor stops and a later send starts a new one that continues the sequence", () =>
    withActors({ idleTimeout: "1 minute" }, ({ actors }) =>
      Effect.gen(function* () {
        const r = room()
        yield* actors.send(send(r, "one"))
        assert.strictEqual(yield* actors.active, 1)
        yield* TestClock.adjust("2 minutes")
        yield* settle
        assert.strictEqual(yield* actors.active, 0)
        const next = yield* actors.send(send(r, "two"))
        assert.strictEqual(next.seq, 2)
        assert.isTrue(Option.isSome(yield* Effect.flatMap(Messages, (m) => m.latest(r))))
      })
    )
  )

  it.effect("after forget, continues from what another node stored meanwhile", () =>
    withActors({}, ({ actors }) =>
      Effect.gen(function* () {
        const r = room()
        const first = yield* actors.send(send(r, "here"))
        // Another node owned the room for a while and stored seq 2.
        const messages = yield* Messages
        const other = yield* messages.claim(r)
        yield* messages.append(
          r,
          [
            {
              roomId: r,
              id: timeUuidFrom(Date.now() + 1000, 0) as MessageId,
              seq: 2,
              userId: user,
              username: "ada",
              text: "elsewhere",
              clientMsgId: null,
              createdAt: Date.now(),
              ...plainMessage
            }
          ],
          { epoch: other.epoch, afterSeq: other.lastSeq }
        )
        assert.strictEqual(first.seq, 1)
        yield* actors.forget(r)
        const next = yield* actors.send(send(r, "back here"))
        assert.strictEqual(next.seq, 3)
        const stored = yield* messages.listAfter(r, { after: null, limit: 10 })
        assert.deepStrictEqual(
          stored.map((m) => [m.seq, m.text]),
          [
            [1, "here"],
            [2, "elsewhere"],
            [3, "back here"]
          ]
        )
      })
    )
  )

  it.effect("retire refuses what is still queued, and a later send starts afresh from storage", () =>
    withActors({}, ({ actors, gate }) =>
      Effect.gen(function* () {
        const r = room()
        yield* gate.close
        const inFlight = yield* Effect.forkChild(actors.send(send(r, "in flight")))
        yield* settle
        const queued = yield* actors.submit(send(r, "queued"))
        yield* actors.retire(r)
        const refused = yield* Effect.flip(queued)
        assert.strictEqual(refused._tag, "ServiceUnavailable")
        yield* gate.open
        // The write already under way completes and is answered.
        assert.strictEqual((yield* Fiber.join(inFlight)).seq, 1)
        assert.strictEqual((yield* actors.send(send(r, "later"))).seq, 2)
      })
    )
  )

  it.effect("answers every send it holds when its layer shuts down mid-write", () =>
    Effect.gen(function* () {
      const { gate, entered, layer } = yield* makeStorage
      yield* gate.close
      const r = room()
      const waits = yield* Effect.gen(function* () {
        const actors = yield* RoomActors
        const first = yield* actors.submit(send(r, "in flight"))
        yield* entered.await
        const second = yield* actors.submit(send(r, "queued"))
        return [first, second]
      }).pipe(
        Effect.provide(
          RoomActors.layer({
            mailboxCapacity: 16,
            maxBatch: 128,
            maxBatchBytes: 40 * 1024,
            idleTimeout: Duration.minutes(1)
          }).pipe(Layer.provide(Layer.merge(layer, Broker.layerMemory)))
        ),
        Effect.scoped
      )
      // The scope is closed: the actor was interrupted inside its blocked write.
      for (const wait of waits) assert.strictEqual((yield* Effect.flip(wait))._tag, "ServiceUnavailable")
    })
  )

  it("splits a batch by bytes, keeping order and never leaving a send out", () => {
    const cost = (n: number) => n
    assert.deepStrictEqual(splitByBytes([5, 5, 5, 20, 1], cost, 10), [[5, 5], [5], [20], [1]])
    assert.deepStrictEqual(splitByBytes([], cost, 10), [])
  })
})
