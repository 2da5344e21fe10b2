/**
 * The hub's fan-out of one room's events to this node's subscribers: messages newer than
 * what storage held at join, once each, one encoded frame for all; typing (not echoed to the
 * typist), presence, membership and room changes; catch-up after a broker `resync`; a gap
 * wider than one storage page; a backfill that keeps failing does not stall the room; and the
 * room's broker subscription lives exactly as long as it has subscribers. SQLite in memory,
 * the memory broker (wrapped to count subscriptions and fail on demand), the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import type { RoomId, UserId } from "@parley/domain"
import { Messages, SqliteStorage, StorageError } from "@parley/storage"
import { Clock, Duration, Effect, Layer } from "effect"
import { Redis } from "effect/persistence"
import { TestClock } from "effect/testing"
import { Broker, type RoomChange } from "../src/realtime/broker.ts"
import { type Delivery, RoomHub, type Subscriber } from "../src/realtime/hub.ts"
import { textFrames } from "../src/ws/frames.ts"
import { ada, storeSeqs, wire } from "./support/message-records.ts"

/**
 * The test's clock, `lag.ms` ahead: a subscriber that adds to it while it is handed a frame
 * stands for a broadcast that takes that long (a write to each of many sockets).
 */
const laggingClock = (lag: { ms: number }) =>
  Layer.effect(
    Clock.Clock,
    Effect.gen(function* () {
      const test = yield* Clock.Clock
      const nanos = () => BigInt(lag.ms) * 1_000_000n
      return {
        currentTimeMillisUnsafe: () => test.currentTimeMillisUnsafe() + lag.ms,
        currentTimeMillis: Effect.sync(() => test.currentTimeMillisUnsafe() + lag.ms),
        currentTimeNanosUnsafe: () => test.currentTimeNanosUnsafe() + nanos(),
        currentTimeNanos: Effect.sync(() => test.currentTimeNanosUnsafe() + nanos()),
        monotonicTimeNanosUnsafe: () => test.monotonicTimeNanosUnsafe() + nanos(),
        monotonicTimeNanos: Effect.sync(() => test.monotonicTimeNanosUnsafe() + nanos()),
        sleep: (duration) => test.sleep(duration)
      } satisfies Clock.Clock
    })
  )

/** Switches a test flips to make the broker or storage misbehave, and what they saw. */
const makeWorld = (broadcastWindow: Duration.Duration = Duration.zero, lag?: { ms: number }) => {
  const faults = { subscribe: false, listAfter: false }
  const seen = { subscriptions: 0, open: 0, listAfter: 0 }
  const broker = Layer.effect(
    Broker,
    Effect.gen(function* () {
      const real = yield* Broker
      return Broker.of({
        ...real,
        subscribe: (roomId, onEvent) =>
          Effect.suspend(() => {
            if (faults.subscribe) return Effect.fail(new Redis.RedisError({ cause: new Error("redis is down") }))
            seen.subscriptions++
            return Effect.acquireRelease(
              Effect.andThen(
                real.subscribe(roomId, onEvent),
                Effect.sync(() => void seen.open++)
              ),
              () => Effect.sync(() => void seen.open--)
            )
          })
      })
    })
  ).pipe(Layer.provideMerge(Broker.layerMemory))
  const storage = Layer.effect(
    Messages,
    Effect.gen(function* () {
      const real = yield* Messages
      return Messages.of({
        ...real,
        listAfter: (...args: Parameters<typeof real.listAfter>) =>
          Effect.suspend(() => {
            seen.listAfter++
            return faults.listAfter
              ? Effect.fail(new StorageError({ operation: "messages.listAfter", cause: new Error("disk on fire") }))
              : real.listAfter(...args)
          })
      })
    })
  ).pipe(Layer.provideMerge(SqliteStorage.layer(":memory:")))
  const hub =
    lag === undefined
      ? RoomHub.layer({ broadcastWindow })
      : RoomHub.layer({ broadcastWindow }).pipe(Layer.provide(laggingClock(lag)))
  const layer = hub.pipe(Layer.provideMerge(broker), Layer.provideMerge(storage))
  return { faults, seen, layer }
}

/** A subscriber that records everything the hub hands it. */
const recorder = () => {
  const deliveries: Array<Delivery> = []
  const membership: Array<UserId> = []
  const changes: Array<RoomChange> = []
  /** The seqs of every run handed over whole, and its frames. */
  const runs: Array<{ readonly seqs: ReadonlyArray<number | null>; readonly frames: Buffer }> = []
  /** How many deliveries it had when it heard of each membership change. */
  const heardAfter: Array<number> = []
  const subscriber: Subscriber = {
    deliver: (_roomId, delivery) => void deliveries.push(delivery),
    deliverRun: (_roomId, run, frames) => {
      runs.push({ seqs: run.map((d) => d.seq), frames })
      deliveries.push(...run)
    },
    membershipChanged: (_roomId, userId) => {
      membership.push(userId)
      heardAfter.push(deliveries.length)
    },
    roomChanged: (_roomId, change) => void changes.push(change)
  }
  const seqs = () => deliveries.flatMap((d) => (d.seq === null ? [] : [d.seq]))
  return { deliveries, membership, changes, runs, heardAfter, subscriber, seqs }
}

/** Lets forked fibers run up to their next wait. */
const settle = Effect.yieldNow.pipe(Effect.repeat({ times: 50 }))

const setup = Effect.gen(function* () {
  const hub = yield* RoomHub
  const messages = yield* Messages
  const broker = yield* Broker
  const roomId = crypto.randomUUID() as RoomId
  const store = (...seqs: Array<number>) => storeSeqs(messages, roomId, seqs)
  const publish = (...seqs: Array<number>) =>
    broker.publish(roomId, { kind: "messages", messages: seqs.map((s) => wire(roomId, s)) })
  return { hub, broker, roomId, store, publish }
})

describe("hub fan-out", () => {
  it.effect("delivers each message newer than storage's head at join once, as one frame shared by all", () => {
    const { layer } = makeWorld()
    return Effect.gen(function* () {
      const { hub, roomId, store, publish } = yield* setup
      yield* store(1, 2)
      const a = recorder()
      const b = recorder()
      yield* hub.join(roomId, a.subscriber)
      yield* hub.join(roomId, b.subscriber)
      // Already in storage at join: a client reads those from history, not from the hub.
      yield* publish(2)
      yield* store(3, 4)
      yield* publish(3, 4)
      yield* publish(4)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [3, 4])
      assert.deepStrictEqual(b.seqs(), [3, 4])
      assert.deepStrictEqual(JSON.parse(a.deliveries[0]!.frame.toString()), {
        type: "chat.message",
        payload: wire(roomId, 3)
      })
      assert.strictEqual(a.deliveries[0]!.skipUser, null)
      assert.strictEqual(a.deliveries[1]!.frame, b.deliveries[1]!.frame)
    }).pipe(Effect.provide(layer))
  })

  it.effect(
    "a broadcast of several messages goes to every subscriber as one run, its frames back to back; one of a single message does not",
    () => {
      const { layer } = makeWorld()
      return Effect.gen(function* () {
        const { hub, roomId, store, publish } = yield* setup
        const a = recorder()
        const b = recorder()
        yield* hub.join(roomId, a.subscriber)
        yield* hub.join(roomId, b.subscriber)
        yield* store(1, 2, 3, 4)
        yield* publish(1)
        yield* publish(2, 3)
        yield* publish(4)
        yield* settle
        assert.deepStrictEqual(a.seqs(), [1, 2, 3, 4])
        assert.deepStrictEqual(
          a.runs.map((r) => r.seqs),
          [[2, 3]]
        )
        assert.deepStrictEqual(
          b.runs.map((r) => r.seqs),
          [[2, 3]]
        )
        // One buffer for all: each subscriber writes the same bytes.
        assert.strictEqual(a.runs[0]!.frames, b.runs[0]!.frames)
        assert.deepStrictEqual(a.runs[0]!.frames, textFrames([a.deliveries[1]!.frame, a.deliveries[2]!.frame]))
      }).pipe(Effect.provide(layer))
    }
  )

  it.effect(
    "with a window, a message that follows a broadcast within it waits for the window's end, with those after it",
    () => {
      const { layer } = makeWorld(Duration.millis(10))
      return Effect.gen(function* () {
        const { hub, roomId, store, publish } = yield* setup
        const a = recorder()
        const b = recorder()
        yield* hub.join(roomId, a.subscriber)
        yield* hub.join(roomId, b.subscriber)
        yield* store(1, 2, 3, 4, 5)
        // A quiet room's message goes out at once.
        yield* publish(1)
        yield* settle
        assert.deepStrictEqual(a.seqs(), [1])
        yield* TestClock.adjust("4 millis")
        yield* publish(2)
        yield* TestClock.adjust("4 millis")
        yield* publish(3)
        yield* settle
        assert.deepStrictEqual(a.seqs(), [1])
        // The window ends 10 ms after the last broadcast: both go out then, in one write each.
        yield* TestClock.adjust("1 millis")
        yield* settle
        assert.deepStrictEqual(a.seqs(), [1])
        yield* TestClock.adjust("1 millis")
        yield* settle
        assert.deepStrictEqual(a.seqs(), [1, 2, 3])
        assert.deepStrictEqual(
          b.runs.map((r) => r.seqs),
          [[2, 3]]
        )
        // 7 ms (`heldWithin` of the window) after a broadcast, a message goes out at once: at
        // one message per window, holding would pair nothing.
        yield* TestClock.adjust("7 millis")
        yield* publish(4, 5)
        yield* settle
        assert.deepStrictEqual(a.seqs(), [1, 2, 3, 4, 5])
      }).pipe(Effect.provide(layer))
    }
  )

  /**
   * A room with a 10 ms window and one subscriber that takes `ms` to be handed message 1 (on
   * the hub's clock): message 1 is broadcast, message 2 published `after` later, then `then`
   * runs with what the subscriber got.
   */
  const afterLongBroadcast = (
    ms: number,
    after: Duration.Input,
    then: (a: ReturnType<typeof recorder>) => Effect.Effect<void>
  ) => {
    const lag = { ms: 0 }
    const { layer } = makeWorld(Duration.millis(10), lag)
    return Effect.gen(function* () {
      const { hub, roomId, store, publish } = yield* setup
      const a = recorder()
      yield* hub.join(roomId, {
        ...a.subscriber,
        deliver: (room, delivery) => {
          if (delivery.seq === 1) lag.ms += ms
          a.subscriber.deliver(room, delivery)
        }
      })
      yield* store(1, 2)
      yield* publish(1)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [1])
      yield* TestClock.adjust(after)
      yield* publish(2)
      yield* settle
      yield* then(a)
    }).pipe(Effect.provide(layer))
  }

  it.effect("with a window, a message soon after a long broadcast's end is held, however long ago it began", () =>
    // 11 ms after the broadcast began, 5 after it ended: held until 10 ms after its end.
    afterLongBroadcast(6, "5 millis", (a) =>
      Effect.gen(function* () {
        assert.deepStrictEqual(a.seqs(), [1])
        yield* TestClock.adjust("4 millis")
        yield* settle
        assert.deepStrictEqual(a.seqs(), [1])
        yield* TestClock.adjust("1 millis")
        yield* settle
        assert.deepStrictEqual(a.seqs(), [1, 2])
      })
    )
  )

  it.effect(
    "with a window, a room whose messages come 1.5 windows apart is not held, however long its broadcast took",
    () =>
      // 5 ms after the broadcast's end but 20 after its start: a room this quiet pairs nothing.
      afterLongBroadcast(15, "5 millis", (a) => Effect.sync(() => assert.deepStrictEqual(a.seqs(), [1, 2])))
  )

  it.effect("with a window, a quiet room is not held when a stall lets two of its messages in together", () => {
    const { layer } = makeWorld(Duration.millis(10))
    return Effect.gen(function* () {
      const { hub, roomId, store, publish } = yield* setup
      const a = recorder()
      yield* hub.join(roomId, a.subscriber)
      yield* store(1, 2, 3, 4)
      // 50 a second, then one 2 ms after the one before: the average gap is still 15.5 ms.
      for (const [seq, gap] of [
        [1, "20 millis"],
        [2, "20 millis"],
        [3, "2 millis"]
      ] as const) {
        yield* publish(seq)
        yield* TestClock.adjust(gap)
      }
      yield* publish(4)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [1, 2, 3, 4])
    }).pipe(Effect.provide(layer))
  })

  it.effect("with a window, a membership change goes out after the messages held before it", () => {
    const { layer } = makeWorld(Duration.millis(10))
    return Effect.gen(function* () {
      const { hub, broker, roomId, store, publish } = yield* setup
      const a = recorder()
      yield* hub.join(roomId, a.subscriber)
      yield* store(1, 2)
      yield* publish(1)
      yield* publish(2)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [1])
      yield* broker.publish(roomId, { kind: "membership", user_id: ada })
      yield* settle
      assert.deepStrictEqual(a.seqs(), [1, 2])
      assert.deepStrictEqual(a.heardAfter, [2])
    }).pipe(Effect.provide(layer))
  })

  it.effect(
    "typing goes to everyone but a lone typist; presence diffs and counts to everyone; none carries a seq",
    () => {
      const { layer } = makeWorld()
      return Effect.gen(function* () {
        const { hub, broker, roomId } = yield* setup
        const a = recorder()
        yield* hub.join(roomId, a.subscriber)
        const adaView = { user_id: ada, username: "ada" }
        const bob = { user_id: "00000000-0000-4000-8000-000000000b0b" as UserId, username: "bob" }
        yield* broker.publish(roomId, { kind: "typing.changes", started: [adaView], stopped: [] })
        // Several typists in one event: one frame for all, nobody skipped (clients skip themselves).
        yield* broker.publish(roomId, { kind: "typing.changes", started: [adaView], stopped: [bob] })
        yield* broker.publish(roomId, { kind: "presence.diff", joined: [adaView], left: [bob], count: 1 })
        yield* broker.publish(roomId, { kind: "presence.count", count: 1000 })
        yield* settle
        assert.deepStrictEqual(
          a.deliveries.map((d) => ({ seq: d.seq, skipUser: d.skipUser, frame: JSON.parse(d.frame.toString()) })),
          [
            {
              seq: null,
              skipUser: ada,
              frame: { type: "typing", payload: { room_id: roomId, started: [adaView], stopped: [] } }
            },
            {
              seq: null,
              skipUser: null,
              frame: { type: "typing", payload: { room_id: roomId, started: [adaView], stopped: [bob] } }
            },
            {
              seq: null,
              skipUser: null,
              frame: { type: "presence.diff", payload: { room_id: roomId, joined: [adaView], left: [bob], count: 1 } }
            },
            { seq: null, skipUser: null, frame: { type: "presence.count", payload: { room_id: roomId, count: 1000 } } }
          ]
        )
      }).pipe(Effect.provide(layer))
    }
  )

  it.effect("membership and room changes reach every subscriber, also when one leaves on hearing it", () => {
    const { layer } = makeWorld()
    return Effect.gen(function* () {
      const { hub, broker, roomId } = yield* setup
      const a = recorder()
      const b = recorder()
      // Like a connection: it unsubscribes when told the room was deleted.
      const leaving: Subscriber = {
        ...a.subscriber,
        roomChanged: (room, change) => {
          a.subscriber.roomChanged(room, change)
          Effect.runFork(hub.leave(room, leaving))
        }
      }
      yield* hub.join(roomId, leaving)
      yield* hub.join(roomId, b.subscriber)
      yield* broker.publish(roomId, { kind: "membership", user_id: ada })
      yield* broker.publish(roomId, { kind: "room", change: "deleted" })
      yield* settle
      assert.deepStrictEqual(a.membership, [ada])
      assert.deepStrictEqual(b.membership, [ada])
      assert.deepStrictEqual(a.changes, ["deleted"])
      assert.deepStrictEqual(b.changes, ["deleted"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("after a broker resync, what storage gained meanwhile is delivered in order", () => {
    const { layer } = makeWorld()
    return Effect.gen(function* () {
      const { hub, broker, roomId, store, publish } = yield* setup
      yield* store(1)
      const a = recorder()
      yield* hub.join(roomId, a.subscriber)
      // Published while the broker was reconnecting: lost on the way.
      yield* store(2, 3, 4)
      yield* broker.publish(roomId, { kind: "resync" })
      yield* settle
      assert.deepStrictEqual(a.seqs(), [2, 3, 4])
      // A resync with nothing new delivers nothing again.
      yield* broker.publish(roomId, { kind: "resync" })
      yield* settle
      yield* store(5)
      yield* publish(5)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [2, 3, 4, 5])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a gap wider than one storage page is filled page by page, in order", () => {
    const { seen, layer } = makeWorld()
    return Effect.gen(function* () {
      const { hub, roomId, store, publish } = yield* setup
      yield* store(1)
      const a = recorder()
      yield* hub.join(roomId, a.subscriber)
      const missing = Array.from({ length: 450 }, (_, i) => i + 2)
      yield* store(...missing, 452, 453)
      yield* publish(452)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [...missing, 452])
      // 200 a page: 3 reads for 451 messages, and none past what was asked for.
      assert.strictEqual(seen.listAfter, 3)
    }).pipe(Effect.provide(layer))
  })

  it.effect("what storage lacks of a gap (a write that failed) is skipped after one read, without retrying", () => {
    const { seen, layer } = makeWorld()
    return Effect.gen(function* () {
      const { hub, roomId, store, publish } = yield* setup
      yield* store(1)
      const a = recorder()
      yield* hub.join(roomId, a.subscriber)
      // 2 is stored, 3 never was; 4 is published as if 2 and 3 had been lost on the way. The
      // short page says storage has nothing more: no second read, no retry, no waiting.
      yield* store(2)
      yield* publish(4)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [2, 4])
      assert.strictEqual(seen.listAfter, 1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a backfill storage cannot serve is given up after its retries: the room goes on past the gap", () => {
    const { faults, seen, layer } = makeWorld()
    return Effect.gen(function* () {
      const { hub, roomId, store, publish } = yield* setup
      yield* store(1)
      const a = recorder()
      yield* hub.join(roomId, a.subscriber)
      faults.listAfter = true
      yield* store(2, 3, 4)
      yield* publish(4)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [], "nothing newer goes out while the gap may still be filled")
      yield* TestClock.adjust(Duration.minutes(1))
      yield* settle
      assert.strictEqual(seen.listAfter, 6, "one read and five retries")
      assert.deepStrictEqual(a.seqs(), [4])
      faults.listAfter = false
      yield* store(5)
      yield* publish(5)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [4, 5])
    }).pipe(Effect.provide(layer))
  })

  it.effect("the room's broker subscription lives while it has subscribers, and a rejoin starts afresh", () => {
    const { seen, layer } = makeWorld()
    return Effect.gen(function* () {
      const { hub, roomId, store, publish } = yield* setup
      const a = recorder()
      const b = recorder()
      yield* hub.join(roomId, a.subscriber)
      yield* hub.join(roomId, b.subscriber)
      assert.deepStrictEqual(seen, { subscriptions: 1, open: 1, listAfter: 0 })
      // Leaving twice, or leaving a room never joined, changes nothing.
      yield* hub.leave(roomId, a.subscriber)
      yield* hub.leave(roomId, a.subscriber)
      yield* hub.leave(crypto.randomUUID() as RoomId, b.subscriber)
      assert.strictEqual(seen.open, 1)
      yield* store(1)
      yield* publish(1)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [])
      assert.deepStrictEqual(b.seqs(), [1])

      yield* hub.leave(roomId, b.subscriber)
      assert.strictEqual(seen.open, 0)
      // Rejoined: a new subscription whose baseline is storage's head now.
      yield* store(2, 3)
      yield* hub.join(roomId, a.subscriber)
      assert.deepStrictEqual(seen, { subscriptions: 2, open: 1, listAfter: 0 })
      yield* store(4)
      yield* publish(4)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [4])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a join whose broker subscription fails fails, and the next join tries again", () => {
    const { faults, seen, layer } = makeWorld()
    return Effect.gen(function* () {
      const { hub, roomId, store, publish } = yield* setup
      const a = recorder()
      faults.subscribe = true
      const error = yield* Effect.flip(hub.join(roomId, a.subscriber))
      assert.strictEqual(error._tag, "RedisError")
      faults.subscribe = false
      yield* hub.join(roomId, a.subscriber)
      assert.strictEqual(seen.open, 1)
      yield* store(1)
      yield* publish(1)
      yield* settle
      assert.deepStrictEqual(a.seqs(), [1])
    }).pipe(Effect.provide(layer))
  })
})
