/**
 * `channel.resume` while live messages keep coming: the replay is held (a storage read that
 * waits on a latch), a live broadcast is injected meanwhile, and the connection must send
 * every message once, in `seq` order, with no gap at the seam; live messages held by the replay
 * come after its ack (protocol.md: the replay, then the ack, then live). One connection on a fake
 * socket, the real hub and memory broker, SQLite in memory.
 */
import { assert, describe, it } from "@effect/vitest"
import type { RoomId } from "@parley/domain"
import { Messages, SqliteStorage } from "@parley/storage"
import { Effect, Fiber, Latch, Layer } from "effect"
import { Broker } from "../src/realtime/broker.ts"
import { arrive, fakeSocket, open, stubs, testOptions, world } from "./support/connection.ts"
import { record, storeSeqs, wire } from "./support/message-records.ts"

/** Where the replay's storage read is held: before it reads, or after it read and before it returns. */
type HoldAt = "before-read" | "after-read"

const makeWorld = (holdAt: HoldAt) =>
  Effect.gen(function* () {
    const gate = yield* Latch.make(false)
    const held = yield* Latch.make(false)
    const storage = Layer.effect(
      Messages,
      Effect.gen(function* () {
        const real = yield* Messages
        return Messages.of({
          ...real,
          listAfter: (...args: Parameters<typeof real.listAfter>) =>
            holdAt === "before-read"
              ? Effect.andThen(Effect.andThen(held.open, gate.await), real.listAfter(...args))
              : Effect.tap(real.listAfter(...args), () => Effect.andThen(held.open, gate.await))
        })
      })
    ).pipe(Layer.provideMerge(SqliteStorage.layer(":memory:")))
    // A resume of a room the user may read exercises access checks only as "allowed".
    return { gate, held, layer: world(stubs({}), storage) }
  })

const resumeWithLiveTraffic = (holdAt: HoldAt) =>
  Effect.gen(function* () {
    const { gate, held, layer } = yield* makeWorld(holdAt)
    return yield* Effect.gen(function* () {
      const messages = yield* Messages
      const broker = yield* Broker
      const roomId = crypto.randomUUID() as RoomId
      const socket = fakeSocket()
      const frames = socket.frames
      const connection = yield* open(socket)
      yield* storeSeqs(messages, roomId, [1, 2, 3, 4, 5])
      const resuming = yield* Effect.forkChild(
        arrive(connection, JSON.stringify({ type: "channel.resume", id: "r", to: roomId, after: record(roomId, 2).id }))
      )
      yield* held.await
      // Stored and broadcast while the replay is held, as the room's actor does.
      yield* storeSeqs(messages, roomId, [6, 7])
      yield* broker.publish(roomId, { kind: "messages", messages: [6, 7].map((s) => wire(roomId, s)) })
      yield* gate.open
      yield* Fiber.join(resuming)
      const sent = frames.filter((f) => f.type === "chat.message" || f.type === "ack")
      return sent.map((f) => (f.type === "ack" ? `ack ${f.payload.replayed}` : f.payload.seq))
    }).pipe(Effect.provide(layer), Effect.scoped)
  })

describe("channel.resume overlapping live traffic", () => {
  it.effect("live messages that arrive before the replay reads are sent once, in order", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* resumeWithLiveTraffic("before-read"), [3, 4, 5, 6, 7, "ack 5"])
    })
  )

  it.effect("live messages that arrive after the replay read follow its ack without a gap", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* resumeWithLiveTraffic("after-read"), [3, 4, 5, "ack 3", 6, 7])
    })
  )

  it.effect("a resume from the newest message drops that message's broadcast arriving late", () =>
    Effect.gen(function* () {
      const { gate, layer } = yield* makeWorld("before-read")
      yield* gate.open
      const frames = yield* Effect.gen(function* () {
        const messages = yield* Messages
        const broker = yield* Broker
        const roomId = crypto.randomUUID() as RoomId
        // Another socket keeps the room open on this node, which has delivered 1 and 2.
        const watcher = yield* open(fakeSocket())
        yield* arrive(watcher, JSON.stringify({ type: "channel.subscribe", to: roomId }))
        yield* storeSeqs(messages, roomId, [1, 2])
        yield* broker.publish(roomId, { kind: "messages", messages: [1, 2].map((s) => wire(roomId, s)) })
        // 3 is stored, and reached the client through another node before it reconnected here;
        // its broadcast to this node comes after the resume.
        yield* storeSeqs(messages, roomId, [3])
        const socket = fakeSocket()
        const connection = yield* open(socket)
        yield* arrive(
          connection,
          JSON.stringify({ type: "channel.resume", id: "r", to: roomId, after: record(roomId, 3).id })
        )
        yield* broker.publish(roomId, { kind: "messages", messages: [wire(roomId, 3)] })
        yield* storeSeqs(messages, roomId, [4])
        yield* broker.publish(roomId, { kind: "messages", messages: [wire(roomId, 4)] })
        return socket.frames
      }).pipe(Effect.provide(layer), Effect.scoped)
      const sent = frames.filter((f) => f.type === "chat.message" || f.type === "ack")
      assert.deepStrictEqual(
        sent.map((f) => (f.type === "ack" ? `ack ${f.payload.replayed}` : f.payload.seq)),
        ["ack 0", 4]
      )
    })
  )

  it.effect(
    "live messages held past the outbound limit during a replay close the socket (1013), as a slow reader",
    () =>
      Effect.gen(function* () {
        const { gate, held, layer } = yield* makeWorld("before-read")
        yield* Effect.gen(function* () {
          const messages = yield* Messages
          const broker = yield* Broker
          const roomId = crypto.randomUUID() as RoomId
          const socket = fakeSocket()
          const connection = yield* open(socket, {}, { ...testOptions, maxBufferedBytes: 4096 })
          yield* storeSeqs(messages, roomId, [1, 2])
          const resuming = yield* Effect.forkChild(
            arrive(
              connection,
              JSON.stringify({ type: "channel.resume", id: "r", to: roomId, after: record(roomId, 1).id })
            )
          )
          yield* held.await
          const live = Array.from({ length: 20 }, (_, i) => i + 3)
          yield* storeSeqs(messages, roomId, live)
          yield* broker.publish(roomId, { kind: "messages", messages: live.map((s) => wire(roomId, s)) })
          assert.deepStrictEqual(socket.closedWith, {
            code: 1013,
            reason: "too slow: outbound queue full, reconnect and resume"
          })
          yield* gate.open
          yield* Fiber.join(resuming)
        }).pipe(Effect.provide(layer), Effect.scoped)
      })
  )
})
