/**
 * The room actor's less travelled paths, found by mutation testing (docs/mutation-testing.md):
 * a broadcast mixing retries found in storage with new messages, failures that are not
 * "deposed", a mailbox batch split by bytes, the memory of recent `client_msg_id`s, and
 * retire/forget around a stopping actor. SQLite in memory, TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import type { MessageView, RoomId, UserId } from "@parley/domain"
import { Messages, SqliteStorage, StaleWrite, StorageError } from "@parley/storage"
import { Duration, Effect, Exit, Fiber, Latch, Layer, Option } from "effect"
import { Redis } from "effect/persistence"
import { TestClock } from "effect/testing"
import { RoomActors, type SendRequest } from "../src/chat/room-actor.ts"
import { Broker, type RoomEvent } from "../src/realtime/broker.ts"

/** What the next appends do, in order; an append with none left just stores. */
type Outcome = "store" | "fail" | "dies" | "stale head" | "deposed" | "lands then fails"

interface World {
  readonly actors: RoomActors["Service"]
  /** Closed: appends wait before they reach storage. */
  readonly gate: Latch.Latch
  /** Opens when an append has reached storage (and waits at the gate, if closed). */
  readonly entered: Latch.Latch
  /** Opens when a `findByClientMsgIds` has been answered. */
  readonly looked: Latch.Latch
  /** Opens when an actor has released its claim. */
  readonly released: Latch.Latch
  readonly state: {
    next: Array<Outcome>
    /** The texts of every append that stored, one entry per write. */
    writes: Array<ReadonlyArray<string>>
    /** Client ids looked up in storage: a retry answered from memory adds none. */
    reads: number
    /** How many of the next `findByClientMsgIds` calls fail (a storage error). */
    failLookups: number
    claims: number
    /** The epoch of every claim, and of every release, in order. */
    claimed: Array<number>
    releases: Array<number>
    /** The next claim reports the room's newest row as repaired (as Cassandra does after a crash). */
    repairNext: boolean
    /** Publishing fails ("fails"); a publish never hangs (`Broker`: Redis commands time out). */
    broker: "ok" | "fails"
    /** The `seq`s of every message publish, one entry per publish. */
    publishes: Array<ReadonlyArray<number>>
  }
}

interface WorldOptions {
  readonly maxBatchBytes?: number
  /**
   * Whether storage says it refuses an append of a stored client id (SQLite's own answer). False
   * unless set: the actor then looks every key up before it writes, as on Cassandra, and these
   * paths are the look-ups'. SQLite still refuses such an append, so one the actor lets through is a failure.
   */
  readonly refusesStoredClientMsgIds?: boolean
}

const makeWorld = (options: WorldOptions) =>
  Effect.gen(function* () {
    const gate = yield* Latch.make(true)
    const entered = yield* Latch.make(false)
    const looked = yield* Latch.make(false)
    const released = yield* Latch.make(false)
    const state: World["state"] = {
      next: [],
      writes: [],
      reads: 0,
      failLookups: 0,
      claims: 0,
      claimed: [],
      releases: [],
      repairNext: false,
      broker: "ok",
      publishes: []
    }
    const storage = Layer.effect(
      Messages,
      Effect.gen(function* () {
        const real = yield* Messages
        return Messages.of({
          ...real,
          refusesStoredClientMsgIds: options.refusesStoredClientMsgIds ?? false,
          findByClientMsgIds: (roomId, keys) => {
            state.reads += keys.length
            if (state.failLookups > 0) {
              state.failLookups--
              return Effect.andThen(
                looked.open,
                Effect.fail(new StorageError({ operation: "findByClientMsgIds", cause: new Error("timeout") }))
              )
            }
            return Effect.tap(real.findByClientMsgIds(roomId, keys), () => looked.open)
          },
          claim: (roomId) =>
            Effect.gen(function* () {
              state.claims++
              const head = yield* real.claim(roomId)
              state.claimed.push(head.epoch)
              if (!state.repairNext) return head
              state.repairNext = false
              return { ...head, repaired: Option.toArray(yield* real.latest(roomId)) }
            }),
          release: (roomId, epoch) =>
            Effect.andThen(
              Effect.sync(() => state.releases.push(epoch)),
              Effect.andThen(real.release(roomId, epoch), released.open)
            ),
          append: (roomId, batch, fence) =>
            Effect.gen(function* () {
              yield* entered.open
              yield* gate.await
              const outcome = state.next.shift() ?? "store"
              if (outcome === "fail") {
                return yield* new StorageError({ operation: "append", cause: new Error("disk on fire") })
              }
              if (outcome === "dies") return yield* Effect.die(new Error("driver bug"))
              if (outcome === "stale head" || outcome === "deposed") {
                return yield* new StaleWrite({ roomId, reason: outcome })
              }
              yield* real.append(roomId, batch, fence)
              state.writes.push(batch.map((m) => m.text))
              if (outcome === "lands then fails") {
                return yield* new StorageError({ operation: "append", cause: new Error("timeout") })
              }
            })
        })
      })
    ).pipe(Layer.provideMerge(SqliteStorage.layer(":memory:")))
    const broker = Layer.succeed(
      Broker,
      Broker.of({
        publish: (_roomId, event: RoomEvent) =>
          Effect.suspend(() => {
            if (event.kind === "messages") state.publishes.push(event.messages.map((m) => m.seq))
            if (state.broker === "fails") return Effect.fail(new Redis.RedisError({ cause: new Error("redis down") }))
            return Effect.void
          }),
        subscribe: () => Effect.void
      })
    )
    const actors = RoomActors.layer({
      mailboxCapacity: 4096,
      maxBatch: 128,
      maxBatchBytes: options.maxBatchBytes ?? 40 * 1024,
      idleTimeout: Duration.minutes(1)
    }).pipe(Layer.provideMerge(broker), Layer.provideMerge(storage))
    return { gate, entered, looked, released, state, actors }
  })

const withWorld = <A, E>(options: WorldOptions, body: (world: World) => Effect.Effect<A, E, Messages>) =>
  Effect.gen(function* () {
    const { gate, entered, looked, released, state, actors } = yield* makeWorld(options)
    return yield* Effect.flatMap(RoomActors, (a) => body({ actors: a, gate, entered, looked, released, state })).pipe(
      Effect.provide(actors),
      Effect.scoped
    )
  })

const user = crypto.randomUUID() as UserId
const room = () => crypto.randomUUID() as RoomId
const send = (roomId: RoomId, text: string, clientMsgId: string | null = null, username = "ada"): SendRequest => ({
  roomId,
  userId: user,
  username,
  text,
  clientMsgId
})

const refused = <A, E>(wait: Effect.Effect<A, E>) =>
  Effect.map(Effect.exit(wait), (exit) =>
    Exit.isFailure(exit) && String(exit.cause).includes("ServiceUnavailable") ? "refused" : "answered"
  )

const storedTexts = (roomId: RoomId) =>
  Effect.map(
    Effect.flatMap(Messages, (m) => m.listAfter(roomId, { after: null, limit: 2000 })),
    (rows) => rows.map((m) => [m.seq, m.text] as const)
  )

/**
 * Holds storage while `first` is written, queues `rest` behind it (they form the actor's next
 * mailbox batch), then lets everything through. Returns each send's outcome, in order.
 */
const behindAWrite = (world: World, first: SendRequest, rest: ReadonlyArray<SendRequest>) =>
  Effect.gen(function* () {
    yield* world.entered.close
    yield* world.gate.close
    const head = yield* world.actors.submit(first)
    yield* world.entered.await
    const waits = yield* Effect.forEach(rest, (s) => world.actors.submit(s))
    yield* world.gate.open
    return yield* Effect.forEach([head, ...waits], (wait) =>
      Effect.map(Effect.exit(wait), (exit) => (Exit.isSuccess(exit) ? exit.value.seq : "refused"))
    )
  })

describe("room actor paths", () => {
  describe("broadcast", () => {
    it.effect("a batch mixing retries found in storage with new sends is published once, in seq order", () =>
      withWorld({}, (world) =>
        Effect.gen(function* () {
          const { actors, state } = world
          const r = room()
          // Two writes that landed but were reported failed: stored as seq 1 and 2, never published.
          state.next = ["lands then fails", "lands then fails"]
          assert.strictEqual(yield* refused(actors.send(send(r, "one", "c-1"))), "refused")
          assert.strictEqual(yield* refused(actors.send(send(r, "two", "c-2"))), "refused")
          assert.deepStrictEqual(state.publishes, [])
          // Their retries, newest first, share a batch with a new send.
          const outcomes = yield* behindAWrite(world, send(r, "blocker"), [
            send(r, "two", "c-2"),
            send(r, "one", "c-1"),
            send(r, "new")
          ])
          assert.deepStrictEqual(outcomes, [3, 2, 1, 4])
          assert.deepStrictEqual(state.publishes, [[3], [1, 2, 4]])
        })
      )
    )
  })

  describe("a failed broadcast", () => {
    it.effect("a failing broker does not hold up the ack: the send is answered and the actor goes on", () =>
      withWorld({}, ({ actors, state }) =>
        Effect.gen(function* () {
          const r = room()
          state.broker = "fails"
          assert.strictEqual((yield* actors.send(send(r, "one"))).seq, 1)
          state.broker = "ok"
          assert.strictEqual((yield* actors.send(send(r, "two"))).seq, 2)
          assert.deepStrictEqual(state.publishes, [[1], [2]])
        })
      )
    )
  })

  describe("a failed write that is not deposed", () => {
    it.effect("a storage failure refuses its own batch only: what waits behind it is stored after", () =>
      withWorld({}, (world) =>
        Effect.gen(function* () {
          const r = room()
          world.state.next = ["fail"]
          const outcomes = yield* behindAWrite(world, send(r, "a"), [send(r, "b"), send(r, "c")])
          assert.deepStrictEqual(outcomes, ["refused", 1, 2])
          assert.deepStrictEqual(yield* storedTexts(r), [
            [1, "b"],
            [2, "c"]
          ])
          assert.strictEqual(yield* world.actors.active, 1)
        })
      )
    )

    it.effect("a defect in storage refuses its own batch only: what waits behind it is stored after", () =>
      withWorld({}, (world) =>
        Effect.gen(function* () {
          const r = room()
          world.state.next = ["dies"]
          const outcomes = yield* behindAWrite(world, send(r, "a"), [send(r, "b")])
          assert.deepStrictEqual(outcomes, ["refused", 1])
        })
      )
    )

    it.effect("a stale head refuses its own batch only: the actor claims again and stores what waits", () =>
      withWorld({}, (world) =>
        Effect.gen(function* () {
          const r = room()
          assert.strictEqual((yield* world.actors.send(send(r, "first"))).seq, 1)
          world.state.next = ["stale head"]
          const outcomes = yield* behindAWrite(world, send(r, "a"), [send(r, "b")])
          assert.deepStrictEqual(outcomes, ["refused", 2])
        })
      )
    )

    it.effect("deposed, by contrast, refuses everything waiting and stops the actor", () =>
      withWorld({}, (world) =>
        Effect.gen(function* () {
          const r = room()
          world.state.next = ["deposed"]
          const outcomes = yield* behindAWrite(world, send(r, "a"), [send(r, "b")])
          assert.deepStrictEqual(outcomes, ["refused", "refused"])
          assert.strictEqual(yield* world.actors.active, 0)
        })
      )
    )
  })

  describe("a mailbox batch split by bytes", () => {
    // A send costs its text's bytes + its username's length + its client id's bytes + 200,
    // once: here 101 + 100 + 200 = 401 without a client id, 404 with "c-1". Writes hold at most 900.
    const text = "é".repeat(50)
    const name = "n".repeat(100)
    const sendOf = (r: RoomId, i: number, withId: boolean) => send(r, `${i}${text}`, withId ? `c-${i}` : null, name)
    /** 401 + 60 bytes of client id: one send per write. */
    const longOf = (r: RoomId, i: number) => send(r, `${i}${text}`, `${i}`.padEnd(60, "c"), name)

    it.effect("without client ids: two sends per write, stored and answered in order", () =>
      withWorld({ maxBatchBytes: 900 }, (world) =>
        Effect.gen(function* () {
          const r = room()
          const outcomes = yield* behindAWrite(
            world,
            sendOf(r, 0, false),
            [1, 2, 3, 4, 5].map((i) => sendOf(r, i, false))
          )
          assert.deepStrictEqual(outcomes, [1, 2, 3, 4, 5, 6])
          assert.deepStrictEqual(
            world.state.writes.map((w) => w.length),
            [1, 2, 2, 1]
          )
          assert.deepStrictEqual(
            (yield* storedTexts(r)).map(([seq, t]) => [seq, t[0]]),
            [0, 1, 2, 3, 4, 5].map((i) => [i + 1, `${i}`])
          )
        })
      )
    )

    it.effect("a client id counts once, by its bytes: two short ones per write, not two long ones", () =>
      withWorld({ maxBatchBytes: 900 }, (world) =>
        Effect.gen(function* () {
          const r = room()
          const outcomes = yield* behindAWrite(
            world,
            sendOf(r, 0, true),
            [1, 2, 3].map((i) => sendOf(r, i, true))
          )
          assert.deepStrictEqual(outcomes, [1, 2, 3, 4])
          assert.deepStrictEqual(
            world.state.writes.map((w) => w.length),
            [1, 2, 1]
          )
          const more = yield* behindAWrite(
            world,
            longOf(r, 4),
            [5, 6].map((i) => longOf(r, i))
          )
          assert.deepStrictEqual(more, [5, 6, 7])
          assert.deepStrictEqual(
            world.state.writes.slice(3).map((w) => w.length),
            [1, 1, 1]
          )
        })
      )
    )

    it.effect("a storage failure in one write of a split batch leaves the later writes stored", () =>
      withWorld({ maxBatchBytes: 900 }, (world) =>
        Effect.gen(function* () {
          const r = room()
          world.state.next = ["store", "fail"]
          const outcomes = yield* behindAWrite(
            world,
            longOf(r, 0),
            [1, 2, 3].map((i) => longOf(r, i))
          )
          assert.deepStrictEqual(outcomes, [1, "refused", 2, 3])
        })
      )
    )

    it.effect("deposed in one write of a split batch refuses the later writes too", () =>
      withWorld({ maxBatchBytes: 900 }, (world) =>
        Effect.gen(function* () {
          const r = room()
          world.state.next = ["store", "deposed"]
          const outcomes = yield* behindAWrite(
            world,
            longOf(r, 0),
            [1, 2, 3].map((i) => longOf(r, i))
          )
          assert.deepStrictEqual(outcomes, [1, "refused", "refused", "refused"])
          assert.strictEqual(world.state.writes.length, 1)
        })
      )
    )
  })

  describe("recent client_msg_ids", () => {
    it.effect("a retry to a running actor is answered from memory, without a storage read", () =>
      withWorld({}, ({ actors, state }) =>
        Effect.gen(function* () {
          const r = room()
          const original = yield* actors.send(send(r, "hi", "c-1"))
          const reads = state.reads
          const retry = yield* actors.send(send(r, "hi", "c-1"))
          assert.strictEqual(retry.msg_id, original.msg_id)
          assert.strictEqual(state.reads, reads)
          // Nothing new to store or announce: no empty write, no empty publish.
          assert.deepStrictEqual(state.writes, [["hi"]])
          assert.deepStrictEqual(state.publishes, [[1]])
          // A send without a client id never asks storage either.
          yield* actors.send(send(r, "plain"))
          assert.strictEqual(state.reads, reads)
          // A running actor claimed the room once, when it started.
          assert.strictEqual(state.claims, 1)
        })
      )
    )

    it.effect("a retry looked up while its first attempt commits is answered with the original, stored once", () =>
      withWorld({}, ({ actors, gate, entered, looked, state }) =>
        Effect.gen(function* () {
          const r = room()
          yield* entered.close
          yield* gate.close
          const first = yield* actors.submit(send(r, "hi", "c-1"))
          // The first attempt's write has started and is held: not in storage yet.
          yield* entered.await
          yield* looked.close
          const retry = yield* actors.submit(send(r, "hi", "c-1"))
          // The retry's lookup runs during that write, so storage does not know it yet.
          yield* looked.await
          yield* gate.open
          const [a, b] = [yield* first, yield* retry]
          assert.deepStrictEqual([b.msg_id, b.seq], [a.msg_id, 1])
          assert.deepStrictEqual(state.writes, [["hi"]])
          assert.deepStrictEqual(state.publishes, [[1]])
          assert.deepStrictEqual(yield* storedTexts(r), [[1, "hi"]])
        })
      )
    )

    it.effect(
      "a retry looked up while its first attempt's write lands yet fails is looked up again after the claim",
      () =>
        withWorld({}, ({ actors, gate, entered, looked, state }) =>
          Effect.gen(function* () {
            const r = room()
            state.next = ["lands then fails"]
            yield* entered.close
            yield* gate.close
            const first = yield* actors.submit(send(r, "hi", "c-1"))
            yield* entered.await
            yield* looked.close
            const retry = yield* actors.submit(send(r, "hi", "c-1"))
            yield* looked.await
            const claims = state.claims
            yield* gate.open
            assert.strictEqual(yield* refused(first), "refused")
            const b = yield* retry
            // The write landed: the retry gets that row, found by a lookup made after the new claim.
            assert.deepStrictEqual([b.seq, b.text, state.claims], [1, "hi", claims + 1])
            assert.deepStrictEqual(yield* storedTexts(r), [[1, "hi"]])
          })
        )
    )

    it.effect("sends arriving one after another during a write all go into the next write", () =>
      withWorld({}, ({ actors, gate, entered, looked, state }) =>
        Effect.gen(function* () {
          const r = room()
          yield* entered.close
          yield* gate.close
          const first = yield* actors.submit(send(r, "a", "c-a"))
          yield* entered.await
          // One send, looked up while the write is held; then two more.
          yield* looked.close
          const b = yield* actors.submit(send(r, "b", "c-b"))
          yield* looked.await
          const rest = yield* Effect.forEach(["c", "d"], (t) => actors.submit(send(r, t, `c-${t}`)))
          yield* gate.open
          const seqs = yield* Effect.forEach([first, b, ...rest], (wait) => Effect.map(wait, (v) => v.seq))
          assert.deepStrictEqual(seqs, [1, 2, 3, 4])
          // Not [a], [b], [c, d]: the next write takes everything that came while the first was held.
          assert.deepStrictEqual(state.writes, [["a"], ["b", "c", "d"]])
        })
      )
    )

    it.effect("a retry that came during a write after a lookup failed is looked up before the next write", () =>
      withWorld({}, ({ actors, gate, entered, looked, state }) =>
        Effect.gen(function* () {
          const r = room()
          // A write that landed but was reported failed: "x" is in storage, not in memory.
          state.next = ["lands then fails"]
          assert.strictEqual(yield* refused(actors.send(send(r, "x", "c-x"))), "refused")
          yield* entered.close
          yield* gate.close
          const a = yield* actors.submit(send(r, "a", "c-a"))
          yield* entered.await
          // While "a" is held: "b" is looked up, "c"'s lookup fails, then "x" is retried.
          yield* looked.close
          const b = yield* actors.submit(send(r, "b", "c-b"))
          yield* looked.await
          yield* looked.close
          state.failLookups = 1
          const c = yield* actors.submit(send(r, "c", "c-c"))
          yield* looked.await
          const x = yield* actors.submit(send(r, "x", "c-x"))
          yield* gate.open
          const seqs = yield* Effect.forEach([a, b, c, x], (wait) => Effect.map(wait, (v) => v.seq))
          assert.deepStrictEqual(seqs, [2, 3, 4, 1])
          assert.deepStrictEqual(yield* storedTexts(r), [
            [1, "x"],
            [2, "a"],
            [3, "b"],
            [4, "c"]
          ])
        })
      )
    )

    it.effect("a retry found in storage is remembered: the next retry makes no read", () =>
      withWorld({}, ({ actors, state }) =>
        Effect.gen(function* () {
          const r = room()
          state.next = ["lands then fails"]
          assert.strictEqual(yield* refused(actors.send(send(r, "hi", "c-1"))), "refused")
          const first = yield* actors.send(send(r, "hi", "c-1"))
          const reads = state.reads
          const second = yield* actors.send(send(r, "hi", "c-1"))
          assert.deepStrictEqual([second.msg_id, state.reads], [first.msg_id, reads])
        })
      )
    )

    it.effect("a batch the claim repaired is broadcast once and its retry answered from memory", () =>
      withWorld({}, ({ actors, state }) =>
        Effect.gen(function* () {
          const r = room()
          state.next = ["lands then fails"]
          assert.strictEqual(yield* refused(actors.send(send(r, "hi", "c-1"))), "refused")
          // The claim after the failed write reports that write's row as repaired.
          state.repairNext = true
          const reads = state.reads
          const retry = yield* actors.send(send(r, "hi", "c-1"))
          assert.deepStrictEqual([retry.seq, state.reads], [1, reads])
          assert.deepStrictEqual(state.publishes, [[1]])
        })
      )
    )

    it.effect("the 1,024 most recent are kept: the oldest is forgotten first", () =>
      withWorld({}, ({ actors, state }) =>
        Effect.gen(function* () {
          const r = room()
          const waits = yield* Effect.forEach(
            Array.from({ length: 1025 }, (_, i) => i),
            (i) => actors.submit(send(r, `m${i}`, `c-${i}`))
          )
          const views: ReadonlyArray<MessageView> = yield* Effect.all(waits)
          const reads = state.reads
          // The second oldest is still in memory; the oldest must be read from storage.
          assert.strictEqual((yield* actors.send(send(r, "m1", "c-1"))).msg_id, views[1]!.msg_id)
          assert.strictEqual(state.reads, reads)
          assert.strictEqual((yield* actors.send(send(r, "m0", "c-0"))).msg_id, views[0]!.msg_id)
          assert.strictEqual(state.reads, reads + 1)
        })
      )
    )
  })

  describe("storage that refuses a stored client id (SQLite)", () => {
    it.effect("new client ids are written unread; a retry the actor forgot is read once its write is refused", () =>
      withWorld({ refusesStoredClientMsgIds: true }, ({ actors, gate, entered, state }) =>
        Effect.gen(function* () {
          const r = room()
          const original = yield* actors.send(send(r, "hi", "c-1"))
          yield* actors.send(send(r, "again", "c-2"))
          assert.strictEqual(state.reads, 0)
          // A new actor remembers nothing of what the last one stored.
          yield* actors.retire(r)
          yield* entered.close
          yield* gate.close
          const held = yield* actors.submit(send(r, "held"))
          yield* entered.await
          // Both wait for the held write, so they go in one write: refused whole for the retry.
          const retry = yield* actors.submit(send(r, "hi", "c-1"))
          const fresh = yield* actors.submit(send(r, "new", "c-3"))
          yield* gate.open
          const [, answered, stored] = [yield* held, yield* retry, yield* fresh]
          assert.deepStrictEqual([answered.msg_id, answered.seq], [original.msg_id, 1])
          assert.strictEqual(stored.seq, 4)
          assert.strictEqual(state.reads, 2)
          assert.deepStrictEqual(state.writes, [["hi"], ["again"], ["held"], ["new"]])
          assert.deepStrictEqual(yield* storedTexts(r), [
            [1, "hi"],
            [2, "again"],
            [3, "held"],
            [4, "new"]
          ])
          // The original goes out again with the new one: only storage knew it, so it may never have.
          assert.deepStrictEqual(state.publishes.at(-1), [1, 4])
        })
      )
    )
  })

  describe("retire and forget", () => {
    it.effect("a stopping actor releases its latest claim, idle or retired (storage drops what it kept for it)", () =>
      withWorld({}, ({ actors, state, released }) =>
        Effect.gen(function* () {
          const r = room()
          assert.strictEqual((yield* actors.send(send(r, "one"))).seq, 1)
          assert.deepStrictEqual(state.releases, [])
          yield* TestClock.adjust("1 minute")
          yield* released.await
          assert.deepStrictEqual(state.releases, [state.claimed.at(-1)!])
          yield* released.close
          assert.strictEqual((yield* actors.send(send(r, "two"))).seq, 2)
          yield* actors.retire(r)
          yield* released.await
          assert.strictEqual(state.claimed.length, 2)
          assert.deepStrictEqual(state.releases, state.claimed)
        })
      )
    )

    it.effect("retire and forget of a room with no actor do nothing", () =>
      withWorld({}, ({ actors }) =>
        Effect.gen(function* () {
          const r = room()
          yield* actors.retire(r)
          yield* actors.forget(r)
          assert.strictEqual(yield* actors.active, 0)
          assert.strictEqual((yield* actors.send(send(r, "first"))).seq, 1)
        })
      )
    )

    it.effect("a retired actor ending after a new one started leaves the new one registered", () =>
      withWorld({}, (world) =>
        Effect.gen(function* () {
          const { actors, gate, entered } = world
          const r = room()
          yield* gate.close
          const old = yield* actors.submit(send(r, "old"))
          yield* entered.await
          yield* actors.retire(r)
          // The room comes back to this node while the retired actor's write is still held.
          yield* entered.close
          const fresh = yield* Effect.forkChild(actors.send(send(r, "fresh")))
          yield* entered.await
          assert.strictEqual(yield* actors.active, 1)
          yield* gate.open
          // The new actor's claim deposed the old one: its held write is refused.
          assert.strictEqual(yield* refused(old), "refused")
          assert.strictEqual((yield* Fiber.join(fresh)).seq, 1)
          assert.strictEqual(yield* actors.active, 1)
        })
      )
    )
  })
})
