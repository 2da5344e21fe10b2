/**
 * The races fencing closes, forced on the real write path: two nodes' room actors over one
 * storage, each node with its own hold on its writes. Run on SQLite (`room-fencing.test.ts`)
 * and on a real Cassandra node (`room-fencing-cassandra.integration.test.ts`).
 *
 * (a) A deposed owner's delayed write: A's write waits while B claims the room and stores;
 *     released, A's write is refused and nothing of it is stored.
 * (b) A write reported as failed (a timeout) that did land, and one that lands only after the
 *     actor claimed again and wrote: no `seq` is given twice either way.
 */
import { assert, describe, layer } from "@effect/vitest"
import { makeTimeUuidClock, type RoomId, ServiceUnavailable, type UserId } from "@parley/domain"
import { type MessageRecord, Messages, StorageError } from "@parley/storage"
import { Context, Duration, Effect, Exit, Latch, Layer } from "effect"
import { RoomActors, type SendRequest } from "../src/chat/room-actor.ts"
import { Broker } from "../src/realtime/broker.ts"

interface Node {
  readonly actors: RoomActors["Service"]
  /** Closed: this node's writes wait before they reach storage. */
  readonly gate: Latch.Latch
  /** Opens when this node's next write has reached the gate. */
  readonly entered: Latch.Latch
  next: {
    /** The next write is stored, then reported to the actor as timed out. */
    landsThenTimesOut?: boolean
    /** The next write is reported as timed out and kept, unsent, in `late`. */
    timesOutThenLands?: boolean
  }
  late?: ReturnType<Messages["Service"]["append"]>
}

const timedOut = () => new StorageError({ operation: "append", cause: new Error("test: timed out") })

/** One node's room actors over the shared storage, through that node's hold on its writes. */
const makeNode = Effect.gen(function* () {
  const storage = yield* Messages
  const node: Node = {
    actors: undefined as unknown as RoomActors["Service"],
    gate: yield* Latch.make(true),
    entered: yield* Latch.make(false),
    next: {}
  }
  const append: Messages["Service"]["append"] = (roomId, batch, fence) =>
    Effect.gen(function* () {
      yield* node.entered.open
      yield* node.gate.await
      const write = storage.append(roomId, batch, fence)
      if (node.next.landsThenTimesOut === true) {
        node.next = {}
        yield* write
        return yield* timedOut()
      }
      if (node.next.timesOutThenLands === true) {
        node.next = {}
        node.late = write
        return yield* timedOut()
      }
      yield* write
    })
  const context = yield* Layer.build(
    RoomActors.layer({
      mailboxCapacity: 64,
      maxBatch: 128,
      maxBatchBytes: 40 * 1024,
      idleTimeout: Duration.minutes(10)
    }).pipe(Layer.provide([Layer.succeed(Messages, Messages.of({ ...storage, append })), Broker.layerMemory]))
  )
  return Object.assign(node, { actors: Context.get(context, RoomActors) })
})

const roomClock = makeTimeUuidClock()
const user = crypto.randomUUID() as UserId
const send = (roomId: RoomId, text: string, clientMsgId: string | null = null): SendRequest => ({
  roomId,
  userId: user,
  username: "ada",
  text,
  clientMsgId
})

/** The room's history as (seq, text), and whether any seq is there twice. */
const stored = (roomId: RoomId) =>
  Effect.gen(function* () {
    const history: ReadonlyArray<MessageRecord> = yield* Effect.flatMap(Messages, (m) =>
      m.listAfter(roomId, { after: null, limit: 100 })
    )
    const seqs = history.map((m) => m.seq)
    return { texts: history.map((m) => [m.seq, m.text]), seqsUnique: new Set(seqs).size === seqs.length }
  })

const refused = <A>(wait: Effect.Effect<A, unknown>) =>
  Effect.map(Effect.exit(wait), (exit) =>
    Exit.isFailure(exit) && String(exit.cause).includes(new ServiceUnavailable()._tag) ? "refused" : "answered"
  )

export const roomFencingSuite = <E>(backend: string, storage: Layer.Layer<Messages, E>) =>
  layer(storage, { timeout: 120_000 })(`room fencing: ${backend}`, (it) => {
    describe("a deposed owner", () => {
      it.effect("(a) its write held while another node claims and stores is refused, with what queued behind it", () =>
        Effect.gen(function* () {
          const a = yield* makeNode
          const b = yield* makeNode
          const r = roomClock.next(Date.now()) as RoomId
          assert.strictEqual((yield* a.actors.send(send(r, "a1"))).seq, 1)
          yield* a.entered.close
          yield* a.gate.close
          const held = yield* a.actors.submit(send(r, "a2", "k-a2"))
          yield* a.entered.await
          const behind = yield* a.actors.submit(send(r, "a3"))
          // Meanwhile the room's shard moved: B's actor claims the room and stores.
          assert.deepStrictEqual(
            [(yield* b.actors.send(send(r, "b1"))).seq, (yield* b.actors.send(send(r, "b2"))).seq],
            [2, 3]
          )
          yield* a.gate.open
          assert.deepStrictEqual([yield* refused(held), yield* refused(behind)], ["refused", "refused"])
          // B goes on undisturbed, and nothing of A's reached storage.
          assert.strictEqual((yield* b.actors.send(send(r, "b3"))).seq, 4)
          assert.deepStrictEqual(yield* stored(r), {
            texts: [
              [1, "a1"],
              [2, "b1"],
              [3, "b2"],
              [4, "b3"]
            ],
            seqsUnique: true
          })
          // A retry of A's refused send, now at the owner, is stored once.
          assert.strictEqual((yield* b.actors.send(send(r, "a2", "k-a2"))).seq, 5)
        }).pipe(Effect.scoped)
      )
    })

    describe("a write whose outcome the actor did not learn", () => {
      it.effect("(b) reported failed yet stored: the next send continues after it, a retry gets it", () =>
        Effect.gen(function* () {
          const a = yield* makeNode
          const r = roomClock.next(Date.now()) as RoomId
          yield* a.actors.send(send(r, "a1"))
          a.next.landsThenTimesOut = true
          assert.strictEqual(yield* refused(a.actors.send(send(r, "a2", "k-a2"))), "refused")
          assert.strictEqual((yield* a.actors.send(send(r, "a3"))).seq, 3)
          const retry = yield* a.actors.send(send(r, "a2", "k-a2"))
          assert.deepStrictEqual([retry.seq, retry.text], [2, "a2"])
          assert.deepStrictEqual(yield* stored(r), {
            texts: [
              [1, "a1"],
              [2, "a2"],
              [3, "a3"]
            ],
            seqsUnique: true
          })
        }).pipe(Effect.scoped)
      )

      it.effect("(b) reported failed and landing only after the actor claimed again and stored: refused", () =>
        Effect.gen(function* () {
          const a = yield* makeNode
          const r = roomClock.next(Date.now()) as RoomId
          yield* a.actors.send(send(r, "a1"))
          a.next.timesOutThenLands = true
          assert.strictEqual(yield* refused(a.actors.send(send(r, "a2", "k-a2"))), "refused")
          assert.strictEqual((yield* a.actors.send(send(r, "a3"))).seq, 2)
          // The timed-out write reaches storage now, carrying the old claim and head.
          const late = yield* Effect.flip(a.late!)
          assert.deepStrictEqual([late._tag, "reason" in late ? late.reason : null], ["StaleWrite", "deposed"])
          assert.deepStrictEqual(yield* stored(r), {
            texts: [
              [1, "a1"],
              [2, "a3"]
            ],
            seqsUnique: true
          })
        }).pipe(Effect.scoped)
      )
    })
  })
