/**
 * The hub's gap backfill: when the broker skips `seq`s (a lost Redis message, a reconnect),
 * the missing messages are read from storage and delivered in order before anything newer,
 * including what arrives while the read is under way. SQLite in memory, the memory broker.
 */
import { assert, describe, it } from "@effect/vitest"
import type { RoomId } from "@parley/domain"
import { Messages, SqliteStorage } from "@parley/storage"
import { Duration, Effect, Latch, Layer } from "effect"
import { Broker } from "../src/realtime/broker.ts"
import { RoomHub, type Subscriber } from "../src/realtime/hub.ts"
import { toMessageView } from "../src/views/chat.ts"
import { encode, record, storeSeqs } from "./support/message-records.ts"

/** Storage whose `listAfter` (the backfill's read) can be held at a gate. */
const makeWorld = Effect.gen(function* () {
  const gate = yield* Latch.make(true)
  const reading = yield* Latch.make(false)
  const storage = Layer.effect(
    Messages,
    Effect.gen(function* () {
      const real = yield* Messages
      return Messages.of({
        ...real,
        listAfter: (...args: Parameters<typeof real.listAfter>) =>
          Effect.andThen(Effect.andThen(reading.open, gate.await), real.listAfter(...args))
      })
    })
  ).pipe(Layer.provideMerge(SqliteStorage.layer(":memory:")))
  const layer = RoomHub.layer({ broadcastWindow: Duration.zero }).pipe(
    Layer.provideMerge(Broker.layerMemory),
    Layer.provideMerge(storage)
  )
  return { gate, reading, layer }
})

/** A subscriber that records the `seq` of every message delivered to it, in order. */
const recorder = () => {
  const seqs: Array<number> = []
  const subscriber: Subscriber = {
    deliver: (_roomId, delivery) => {
      if (delivery.seq !== null) seqs.push(delivery.seq)
    },
    membershipChanged: () => {},
    roomChanged: () => {}
  }
  return { seqs, subscriber }
}

/** Lets forked fibers run up to their next wait. */
const settle = Effect.yieldNow.pipe(Effect.repeat({ times: 50 }))

const scenario = <A, E>(
  body: (context: {
    readonly roomId: RoomId
    readonly seqs: Array<number>
    readonly gate: Latch.Latch
    readonly reading: Latch.Latch
    /** Stores these `seq`s, as the room's actor would. */
    readonly store: (...seqs: Array<number>) => Effect.Effect<void, unknown>
    /** Publishes these `seq`s as one broadcast, as if the others were lost on the way. */
    readonly publish: (...seqs: Array<number>) => Effect.Effect<void, unknown>
  }) => Effect.Effect<A, E, RoomHub | Messages | Broker>
) =>
  Effect.gen(function* () {
    const { gate, reading, layer } = yield* makeWorld
    return yield* Effect.gen(function* () {
      const hub = yield* RoomHub
      const messages = yield* Messages
      const broker = yield* Broker
      const roomId = crypto.randomUUID() as RoomId
      const { seqs, subscriber } = recorder()
      const store = (...seqs: Array<number>) => storeSeqs(messages, roomId, seqs)
      const publish = (...ss: Array<number>) =>
        broker.publish(roomId, { kind: "messages", messages: ss.map((s) => encode(toMessageView(record(roomId, s)))) })
      yield* store(1)
      yield* hub.join(roomId, subscriber)
      return yield* body({ roomId, seqs, gate, reading, store, publish })
    }).pipe(Effect.provide(layer), Effect.scoped)
  })

describe("hub gap backfill", () => {
  it.effect("a jump from N to N+3 delivers N+1..N+2 from storage, in order, before N+3", () =>
    scenario(({ seqs, store, publish }) =>
      Effect.gen(function* () {
        yield* store(2, 3, 4)
        yield* publish(4)
        yield* settle
        assert.deepStrictEqual(seqs, [2, 3, 4])
      })
    )
  )

  it.effect("a jump inside one broadcast is filled at the right place", () =>
    scenario(({ seqs, store, publish }) =>
      Effect.gen(function* () {
        yield* store(2, 3, 4, 5)
        yield* publish(2, 5)
        yield* settle
        assert.deepStrictEqual(seqs, [2, 3, 4, 5])
      })
    )
  )

  it.effect("what arrives while the backfill reads waits for it, then follows in order", () =>
    scenario(({ seqs, gate, reading, store, publish }) =>
      Effect.gen(function* () {
        yield* gate.close
        yield* store(2, 3, 4)
        yield* publish(4)
        yield* reading.await
        yield* store(5)
        yield* publish(5)
        yield* settle
        assert.deepStrictEqual(seqs, [], "nothing is delivered while the gap is being read")
        yield* gate.open
        yield* settle
        assert.deepStrictEqual(seqs, [2, 3, 4, 5])
      })
    )
  )
})
