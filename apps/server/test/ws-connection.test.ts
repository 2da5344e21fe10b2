/**
 * One connection's life in process, on the TestClock: a peer that stops answering pings is
 * dropped after one missed ping; a session found revoked at the periodic re-check closes the
 * socket (4003); the access token's expiry closes it at that very millisecond (4001), even
 * months away; a close that the peer does not complete is cut off after the grace period;
 * and closing the connection interrupts every fiber it started (timers, a waiting `?room_id=`
 * subscribe) before it leaves its rooms, and drops the acks still to come. With the default limits, a client holding
 * the most rooms allowed resumes them all on a new socket. A subscribe's ack without an event id, encoded once per
 * room, names the room it answers.
 */
import { assert, describe, it } from "@effect/vitest"
import { NotFound, type RoomId, Unauthorized } from "@parley/domain"
import { Messages, SqliteStorage, StorageError } from "@parley/storage"
import { ConfigProvider, Deferred, Duration, Effect, Exit, Fiber, FiberSet, Layer } from "effect"
import { TestClock } from "effect/testing"
import { RoomRouter } from "../src/chat/room-router.ts"
import type { RoomAccess } from "../src/chat/rooms.ts"
import { RateLimits } from "../src/ratelimit/limits.ts"
import { Broker } from "../src/realtime/broker.ts"
import { RoomHub } from "../src/realtime/hub.ts"
import { Presence } from "../src/realtime/presence.ts"
import { Revocations } from "../src/realtime/revocations.ts"
import { onClosed, onFrame } from "../src/ws/connection.ts"
import { Connections } from "../src/ws/connections.ts"
import { connectionOptions, WebSocketConfig } from "../src/ws/endpoint.ts"
import { ada, arrive, fakeSocket, open, stubs, testOptions, world } from "./support/connection.ts"
import { record, storeSeqs, wire } from "./support/message-records.ts"

const room = "a0000000-0000-1000-8000-000000000001" as RoomId
/** A room actor's reply to a send (`SendReply`), as these fakes call it: with only the fields an ack reads. */
type AnyReply = (exit: Exit.Exit<unknown, unknown>) => void

/** A router whose sends all go to `submitWith` (nothing else of it is used here). */
const routerOf = (submitWith: (request: unknown, reply: AnyReply) => Effect.Effect<unknown, unknown>) =>
  Layer.succeed(RoomRouter, { submitWith } as unknown as RoomRouter["Service"])

describe("a connection's timers", () => {
  it.effect("a peer that misses one ping is dropped at the next; one that answers stays", () =>
    Effect.gen(function* () {
      const quiet = fakeSocket()
      const answering = fakeSocket()
      yield* open(quiet)
      const live = yield* open(answering)
      yield* TestClock.adjust(Duration.millis(testOptions.pingIntervalMs - 1))
      assert.strictEqual(quiet.pings, 0)
      yield* TestClock.adjust(Duration.millis(1))
      assert.strictEqual(quiet.pings, 1)
      assert.strictEqual(answering.pings, 1)
      live.alive = true // its pong
      yield* TestClock.adjust(Duration.millis(testOptions.pingIntervalMs))
      assert.isTrue(quiet.terminated)
      assert.isFalse(answering.terminated)
      assert.strictEqual(answering.pings, 2)
      // Any frame from the peer counts as an answer.
      onFrame(live, JSON.stringify({ type: "ping", id: "p" }))
      yield* TestClock.adjust(Duration.millis(testOptions.pingIntervalMs))
      assert.isFalse(answering.terminated)
      assert.strictEqual(answering.pings, 3)
    }).pipe(Effect.provide(world(stubs({}))))
  )

  it.effect("a session found revoked at the re-check closes the socket with 4003; a valid one re-checks rooms", () => {
    let valid = true
    let checks = 0
    const accounts = {
      authenticateSession: () =>
        Effect.suspend(() => {
          checks++
          return valid ? Effect.succeed(ada) : Effect.fail(new Unauthorized())
        })
    }
    return Effect.gen(function* () {
      const socket = fakeSocket()
      // Pings far apart, so only the re-check acts.
      yield* open(socket, {}, { ...testOptions, pingIntervalMs: testOptions.reauthIntervalMs * 10 })
      yield* TestClock.adjust(Duration.millis(testOptions.reauthIntervalMs))
      assert.strictEqual(checks, 1)
      assert.isNull(socket.closedWith)
      valid = false
      yield* TestClock.adjust(Duration.millis(testOptions.reauthIntervalMs - 1))
      assert.strictEqual(checks, 1)
      yield* TestClock.adjust(Duration.millis(1))
      assert.strictEqual(checks, 2)
      assert.deepStrictEqual(socket.closedWith, { code: 4003, reason: "session revoked or account disabled" })
    }).pipe(Effect.provide(world(stubs({ accounts }))))
  })

  it.effect("the token's expiry closes the socket (4001) at the first sweep after it, even 40 days away", () =>
    Effect.gen(function* () {
      const expiresAt = Duration.toMillis(Duration.days(40))
      const socket = fakeSocket()
      // Pings and re-checks further away than the expiry, so only the expiry acts.
      yield* open(
        socket,
        { expiresAt },
        { ...testOptions, pingIntervalMs: expiresAt * 2, reauthIntervalMs: expiresAt * 2 }
      )
      yield* TestClock.adjust(Duration.millis(expiresAt - 1))
      assert.isNull(socket.closedWith)
      yield* TestClock.adjust(Duration.millis(testOptions.sweepMs))
      assert.deepStrictEqual(socket.closedWith, { code: 4001, reason: "access token expired; refresh and reconnect" })
    }).pipe(Effect.provide(world(stubs({}))))
  )

  it.effect("a close the peer does not complete is cut off after the grace period", () =>
    Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket)
      conn.revoke()
      assert.strictEqual(socket.closedWith?.code, 4003)
      yield* TestClock.adjust(Duration.millis(testOptions.closeGraceMs - 1))
      assert.isFalse(socket.terminated)
      yield* TestClock.adjust(Duration.millis(1))
      assert.isTrue(socket.terminated)
    }).pipe(Effect.provide(world(stubs({}))))
  )
})

describe("closing a connection", () => {
  it.effect("ends its timers, leaves its rooms, and drops the answers still to come", () => {
    const submitted = Deferred.makeUnsafe<AnyReply>()
    // A send that is accepted, and stored only once the connection has closed.
    const router = routerOf((_request, reply) => Deferred.succeed(submitted, reply))
    return Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket)
      yield* arrive(conn, JSON.stringify({ type: "channel.subscribe", id: "s", to: room }))
      yield* arrive(conn, JSON.stringify({ type: "chat.message", id: "m", to: room, payload: { text: "hi" } }))
      const reply = yield* Deferred.await(submitted)
      assert.strictEqual(conn.subscriptions?.size, 1)
      yield* onClosed(conn)
      assert.strictEqual(conn.subscriptions?.size, 0)
      reply(Exit.succeed({ room_id: room, msg_id: "x", seq: 1 }))
      assert.deepStrictEqual(
        socket.frames.filter((f) => f.id === "m"),
        []
      )
      // Left for real: nobody online in the room any more.
      assert.deepStrictEqual(yield* (yield* Presence).page(room), { online: [], count: 0 })
      // The timers are gone: no ping however long we wait.
      yield* TestClock.adjust(Duration.days(1))
      assert.strictEqual(socket.pings, 0)
      assert.isFalse(socket.terminated)
    }).pipe(Effect.provide(world(Layer.merge(stubs({}), router))))
  })
})

describe("a send's deadline (SEND_DEADLINE from the frame's arrival)", () => {
  const deadline = testOptions.sendDeadlineMs
  const send = (id: string) => JSON.stringify({ type: "chat.message", id, to: room, payload: { text: id } })
  const answers = (socket: ReturnType<typeof fakeSocket>) =>
    socket.frames.filter((f) => f.type !== "presence").map((f) => [f.id, f.type, f.payload?.code])

  it.effect("a send storage has not stored by its deadline is answered service_unavailable then, once", () => {
    let stored: AnyReply | undefined
    // Accepted by the room, stored only when the test says.
    const router = routerOf((_request, reply) => Effect.sync(() => (stored = reply)))
    return Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket)
      yield* arrive(conn, send("m"))
      yield* TestClock.adjust(Duration.millis(deadline - 1))
      assert.deepStrictEqual(answers(socket), [])
      yield* TestClock.adjust(Duration.millis(100))
      assert.deepStrictEqual(answers(socket), [["m", "error", "service_unavailable"]])
      // Stored after all: the late answer stands, no ack follows it.
      stored!(Exit.succeed({ room_id: room, msg_id: "x", seq: 1 }))
      yield* TestClock.adjust(Duration.millis(100))
      assert.deepStrictEqual(answers(socket), [["m", "error", "service_unavailable"]])
      assert.strictEqual(yield* FiberSet.size(conn.fibers), 0)
    }).pipe(Effect.provide(world(Layer.merge(stubs({}), router))))
  })

  it.effect("a send whose hand-off to its room dies is answered once (internal), not again at its deadline", () => {
    const router = routerOf(() => Effect.die("a bug on the way to the room"))
    return Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket)
      onFrame(conn, send("m"))
      yield* TestClock.adjust(Duration.millis(deadline + 200))
      assert.deepStrictEqual(answers(socket), [["m", "error", "internal"]])
      assert.strictEqual(conn.unanswered, 0)
    }).pipe(Effect.provide(world(Layer.merge(stubs({}), router))))
  })

  it.effect("with limits counted in Redis, a check that hangs is cut off even where posting is remembered", () => {
    let checks = 0
    const limits = Layer.succeed(RateLimits, {
      message: () => (++checks === 1 ? Effect.void : Effect.never),
      shared: true
    } as unknown as RateLimits["Service"])
    const router = routerOf((_request, reply) =>
      Effect.sync(() => reply(Exit.succeed({ room_id: room, msg_id: "x", seq: 1 })))
    )
    return Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket)
      onFrame(conn, send("first"))
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(answers(socket), [["first", "ack", undefined]])
      onFrame(conn, send("second"))
      yield* TestClock.adjust(Duration.millis(deadline - 1))
      assert.deepStrictEqual(answers(socket), [["first", "ack", undefined]])
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(answers(socket), [
        ["first", "ack", undefined],
        ["second", "error", "service_unavailable"]
      ])
    }).pipe(Effect.provide(world(Layer.mergeAll(stubs({}), router, limits))))
  })

  it.effect("sends queued behind a check that hangs are each answered by their deadline, in order", () => {
    const router = routerOf(() => Effect.die("a send whose check never ended was handed to its room"))
    return Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket)
      // Three frames read at once, as a client pipelining sends writes them.
      for (const id of ["a", "b", "c"]) onFrame(conn, send(id))
      yield* TestClock.adjust(Duration.millis(deadline - 1))
      assert.deepStrictEqual(answers(socket), [])
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(answers(socket), [
        ["a", "error", "service_unavailable"],
        ["b", "error", "service_unavailable"],
        ["c", "error", "service_unavailable"]
      ])
    }).pipe(Effect.provide(world(Layer.merge(stubs({ rooms: { postable: () => Effect.never } }), router))))
  })

  it.effect(
    "a send queued behind a subscribe that hangs is answered by its deadline and never reaches its room",
    () => {
      const access = Deferred.makeUnsafe<void>()
      let submitted = 0
      const router = routerOf((_request, reply) =>
        Effect.sync(() => {
          submitted++
          reply(Exit.succeed({ room_id: room, msg_id: "x", seq: 1 }))
        })
      )
      // The subscribe's access read answers only when the test says (a stalled storage read).
      const rooms = { access: () => Effect.as(Deferred.await(access), {} as RoomAccess) }
      return Effect.gen(function* () {
        const socket = fakeSocket()
        const conn = yield* open(socket)
        onFrame(conn, JSON.stringify({ type: "channel.subscribe", id: "sub", to: room }))
        yield* TestClock.adjust(Duration.millis(1))
        onFrame(conn, send("m"))
        onFrame(conn, JSON.stringify({ type: "ping", id: "p" }))
        yield* TestClock.adjust(Duration.millis(deadline - 1))
        assert.deepStrictEqual(answers(socket), [])
        yield* TestClock.adjust(Duration.millis(100))
        assert.deepStrictEqual(answers(socket), [["m", "error", "service_unavailable"]])
        // The subscribe ends: the frames behind it run in order, the answered send skipped.
        yield* Deferred.succeed(access, undefined)
        yield* TestClock.adjust(Duration.millis(1))
        assert.deepStrictEqual(
          socket.frames.filter((f) => f.type !== "presence").map((f) => [f.id, f.type]),
          [
            ["m", "error"],
            ["sub", "ack"],
            ["p", "pong"]
          ]
        )
        assert.strictEqual(submitted, 0)
      }).pipe(Effect.provide(world(Layer.merge(stubs({ rooms }), router))))
    }
  )
})

describe("the ?room_id= subscribe", () => {
  it.effect("is done when the connection opens, before it reads a frame: its ack, then who is online", () =>
    Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket, { roomId: room })
      assert.isTrue(conn.subscriptions?.has(room))
      assert.deepStrictEqual(
        socket.frames.map((f) => [f.type, f.payload?.of ?? f.payload?.count]),
        [
          ["ack", "channel.subscribe"],
          ["presence", 1]
        ]
      )
      yield* onClosed(conn)
      assert.deepStrictEqual(yield* (yield* Presence).page(room), { online: [], count: 0 })
    }).pipe(Effect.provide(world(stubs({}))))
  )

  /**
   * The upgrade's fiber runs the subscribe, and is interrupted when the server stops. The
   * socket then never reaches the code that closes its connection: opening must clean up.
   */
  it.effect("interrupted while it waits, leaves nothing behind: not online, not registered", () => {
    const held = Deferred.makeUnsafe<void>()
    const gatedHub = Layer.effect(
      RoomHub,
      Effect.gen(function* () {
        const hub = yield* RoomHub
        return RoomHub.of({
          ...hub,
          join: (roomId, subscriber) =>
            Effect.andThen(
              hub.join(roomId, subscriber),
              Effect.andThen(Deferred.succeed(held, undefined), Effect.never)
            )
        })
      })
    )
    return Effect.gen(function* () {
      const connections = yield* Connections
      const opening = yield* Effect.forkChild(open(fakeSocket(), { roomId: room }))
      yield* Deferred.await(held)
      assert.strictEqual(connections.countOf(ada.userId), 1)
      yield* Fiber.interrupt(opening)
      assert.strictEqual(connections.countOf(ada.userId), 0)
      assert.deepStrictEqual(yield* (yield* Presence).page(room), { online: [], count: 0 })
    }).pipe(Effect.provide(gatedHub), Effect.provide(world(stubs({}))))
  })
})

describe("a subscribe's answer and the room's live events", () => {
  /** Storage whose head read (the hub's, as it opens the room) waits for `gate`. */
  const slowHead = (gate: Deferred.Deferred<void>) =>
    Layer.effect(
      Messages,
      Effect.gen(function* () {
        const real = yield* Messages
        return Messages.of({ ...real, latest: (roomId) => Effect.andThen(Deferred.await(gate), real.latest(roomId)) })
      })
    ).pipe(Layer.provideMerge(SqliteStorage.layer(":memory:")))

  it.effect("a message broadcast while the subscribe opens the room comes after its ack and the online list", () => {
    const gate = Deferred.makeUnsafe<void>()
    return Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket)
      const subscribing = yield* Effect.forkChild(
        arrive(conn, JSON.stringify({ type: "channel.subscribe", id: "s", to: room }))
      )
      // The subscription is in the hub, which is still reading the room's head when a message comes.
      while ((conn.subscriptions?.size ?? 0) === 0) yield* Effect.yieldNow
      yield* (yield* Broker).publish(room, { kind: "messages", messages: [wire(room, 1)] })
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(subscribing)
      assert.deepStrictEqual(
        socket.frames.map((f) => [f.type, f.id ?? f.payload.seq ?? null]),
        [
          ["ack", "s"],
          ["presence", null],
          ["chat.message", 1]
        ]
      )
    }).pipe(Effect.provide(world(stubs({}), slowHead(gate))))
  })
})

describe("a subscribe racing a removal", () => {
  const removedFrom = () => new NotFound({ error: { code: "not_found", message: "no such room" } })

  it.effect("a member removed while the subscribe reads access is refused, not left subscribed", () => {
    const reading = Deferred.makeUnsafe<void>()
    const announced = Deferred.makeUnsafe<void>()
    let reads = 0
    // The first read answers "member", once the removal has been announced; any later one knows.
    const access = () =>
      Effect.suspend(() =>
        ++reads === 1
          ? Effect.andThen(Deferred.succeed(reading, undefined), Effect.as(Deferred.await(announced), {}))
          : Effect.fail(removedFrom())
      )
    return Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket)
      const subscribing = yield* Effect.forkChild(
        arrive(conn, JSON.stringify({ type: "channel.subscribe", id: "s", to: room }))
      )
      yield* Deferred.await(reading)
      yield* (yield* Revocations).publish({ kind: "membership", room_id: room, user_id: ada.userId })
      yield* Deferred.succeed(announced, undefined)
      yield* Fiber.join(subscribing)
      assert.isFalse(conn.subscriptions?.has(room) ?? false)
      assert.deepStrictEqual(
        socket.frames.map((f) => [f.type, f.id, f.payload.code]),
        [["error", "s", "forbidden"]]
      )
      assert.deepStrictEqual(yield* (yield* Presence).page(room), { online: [], count: 0 })
    }).pipe(Effect.provide(world(stubs({ rooms: { access } as any }))))
  })

  it.effect("the ?room_id= subscribe reads again when a removal came after the upgrade's read", () =>
    Effect.gen(function* () {
      // Announced after the upgrade read the room (at `authenticatedAt`), before the socket registered.
      yield* (yield* Revocations).publish({ kind: "membership", room_id: room, user_id: ada.userId })
      const socket = fakeSocket()
      const conn = yield* open(socket, { roomId: room, roomAccess: Exit.succeed({}) as any })
      assert.isFalse(conn.subscriptions?.has(room) ?? false)
      assert.deepStrictEqual(
        socket.frames.map((f) => [f.type, f.payload.code, f.payload.room_id]),
        [["error", "forbidden", room]]
      )
    }).pipe(Effect.provide(world(stubs({ rooms: { access: () => Effect.fail(removedFrom()) } as any }))))
  )
})

describe("a connection's inbound queue", () => {
  it.effect("while an event waits, frames beyond the queue are answered rate_limited, each exactly once", () => {
    // A send whose storage never answers: the connection's queue cannot move on.
    const router = routerOf(() => Effect.never)
    return Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket)
      onFrame(conn, JSON.stringify({ type: "chat.message", id: "m", to: room, payload: { text: "hi" } }))
      const pings = testOptions.inbound.frames + 10
      for (let i = 0; i < pings; i++) onFrame(conn, JSON.stringify({ type: "ping", id: `p${i}` }))
      // The queued ones wait behind the send; the ten over capacity are refused at once.
      assert.deepStrictEqual(
        socket.frames.map((f) => [f.id, f.type, f.payload?.code]),
        Array.from({ length: 10 }, (_, i) => [`p${testOptions.inbound.frames + i}`, "error", "rate_limited"])
      )
    }).pipe(Effect.provide(world(Layer.merge(stubs({}), router))))
  })

  it.effect("sends refused for a full queue are not answered again at their deadline; queued ones are, once", () => {
    const router = routerOf(() => Effect.never)
    return Effect.gen(function* () {
      const socket = fakeSocket()
      const conn = yield* open(socket)
      const frames = testOptions.inbound.frames
      // The first runs and hangs; `frames` more wait behind it; two more find the queue full.
      for (let i = 0; i <= frames + 2; i++) {
        onFrame(conn, JSON.stringify({ type: "chat.message", id: `m${i}`, to: room, payload: { text: "hi" } }))
      }
      yield* TestClock.adjust(Duration.millis(testOptions.sendDeadlineMs + 200))
      const byId = new Map<string, Array<string>>()
      for (const f of socket.frames) byId.set(f.id, [...(byId.get(f.id) ?? []), f.payload?.code])
      assert.deepStrictEqual(byId.get(`m${frames + 1}`), ["rate_limited"])
      assert.deepStrictEqual(byId.get(`m${frames + 2}`), ["rate_limited"])
      for (let i = 1; i <= frames; i++) assert.deepStrictEqual(byId.get(`m${i}`), ["service_unavailable"])
    }).pipe(Effect.provide(world(Layer.merge(stubs({}), router))))
  })
})

describe("the default limits", () => {
  it.effect("a client that held the most rooms allowed can resume them all at once on a new socket", () =>
    Effect.gen(function* () {
      const options = connectionOptions(yield* WebSocketConfig.parse(ConfigProvider.fromEnv({ env: {} })))
      const socket = fakeSocket()
      const conn = yield* open(socket, {}, options)
      for (let i = 0; i < options.maxSubscriptions; i++) {
        const roomId = crypto.randomUUID() as RoomId
        yield* arrive(
          conn,
          JSON.stringify({ type: "channel.resume", id: `r${i}`, to: roomId, after: record(roomId, 1).id })
        )
      }
      assert.deepStrictEqual(
        socket.frames.filter((f) => f.type === "error"),
        []
      )
      assert.strictEqual(conn.subscriptions?.size, options.maxSubscriptions)
    }).pipe(Effect.provide(world(stubs({}))))
  )
})

describe("channel.resume on a socket already subscribed", () => {
  it.effect("replays what came before the live messages it already got: no gap", () =>
    Effect.gen(function* () {
      const messages = yield* Messages
      const broker = yield* Broker
      const roomId = crypto.randomUUID() as RoomId
      yield* storeSeqs(messages, roomId, [1, 2, 3, 4, 5])
      const socket = fakeSocket()
      const conn = yield* open(socket)
      // Subscribed first (or a resume whose read failed): live messages 6 and 7 arrive.
      yield* arrive(conn, JSON.stringify({ type: "channel.subscribe", id: "s", to: roomId }))
      yield* storeSeqs(messages, roomId, [6, 7])
      yield* broker.publish(roomId, { kind: "messages", messages: [6, 7].map((s) => wire(roomId, s)) })
      yield* arrive(conn, JSON.stringify({ type: "channel.resume", id: "r", to: roomId, after: record(roomId, 2).id }))
      const sent = socket.frames.filter((f) => f.type === "chat.message").map((f) => f.payload.seq)
      // The ones it had get sent again; a client drops a seq it already has.
      assert.deepStrictEqual(sent, [6, 7, 3, 4, 5, 6, 7])
    }).pipe(Effect.provide(world(stubs({}))))
  )

  it.effect("a resume whose read failed, retried after live messages came, misses nothing", () => {
    let failures = 1
    const storage = Layer.effect(
      Messages,
      Effect.gen(function* () {
        const real = yield* Messages
        return Messages.of({
          ...real,
          listAfter: (...args: Parameters<typeof real.listAfter>) =>
            failures-- > 0
              ? Effect.fail(new StorageError({ operation: "listAfter", cause: "down" }))
              : real.listAfter(...args)
        })
      })
    ).pipe(Layer.provideMerge(SqliteStorage.layer(":memory:")))
    return Effect.gen(function* () {
      const messages = yield* Messages
      const broker = yield* Broker
      const roomId = crypto.randomUUID() as RoomId
      yield* storeSeqs(messages, roomId, [1, 2, 3, 4, 5])
      const socket = fakeSocket()
      const conn = yield* open(socket)
      const resume = JSON.stringify({ type: "channel.resume", id: "r", to: roomId, after: record(roomId, 2).id })
      yield* arrive(conn, resume)
      assert.strictEqual(socket.frames.find((f) => f.type === "error")?.payload.code, "service_unavailable")
      yield* storeSeqs(messages, roomId, [6, 7])
      yield* broker.publish(roomId, { kind: "messages", messages: [6, 7].map((s) => wire(roomId, s)) })
      yield* arrive(conn, resume)
      const sent = socket.frames.filter((f) => f.type === "chat.message").map((f) => f.payload.seq)
      assert.deepStrictEqual(sent, [6, 7, 3, 4, 5, 6, 7])
    }).pipe(Effect.provide(world(stubs({}), storage)))
  })
})

describe("a connection's acks on the socket", () => {
  /** A fake socket over a corkable stream: records, for each frame, whether it was held when sent. */
  const corkingSocket = () => {
    const socket = fakeSocket()
    const held: Array<boolean> = []
    const raw = {
      writableCorked: 0,
      cork() {
        raw.writableCorked++
      },
      uncork() {
        raw.writableCorked--
      }
    }
    const send = socket.send.bind(socket)
    Object.assign(socket, {
      _socket: raw,
      send: (data: string | Buffer) => {
        held.push(raw.writableCorked > 0)
        send(data)
      }
    })
    return { socket, held, raw }
  }
  const send = (id: string) => JSON.stringify({ type: "chat.message", id, to: room, payload: { text: id } })
  const view = { room_id: room, msg_id: "x", seq: 1 }
  const acks = (socket: ReturnType<typeof fakeSocket>) => socket.frames.filter((f) => f.type === "ack").map((f) => f.id)

  it.effect("a lone send's ack is written at once, not held for the loop's next turn", () => {
    const router = routerOf((_request, reply) => Effect.sync(() => reply(Exit.succeed(view))))
    return Effect.gen(function* () {
      const { socket, held } = corkingSocket()
      const conn = yield* open(socket)
      onFrame(conn, send("m"))
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(acks(socket), ["m"])
      assert.deepStrictEqual(held, [false])
    }).pipe(Effect.provide(world(Layer.merge(stubs({}), router))))
  })

  it.effect("sends answered together (a group commit) have their acks held, to leave in one write", () => {
    // One group commit: the room answers every send at once, when the test says.
    const replies: Array<AnyReply> = []
    const router = routerOf((_request, reply) => Effect.sync(() => replies.push(reply)))
    return Effect.gen(function* () {
      const { socket, held, raw } = corkingSocket()
      const conn = yield* open(socket)
      for (const id of ["a", "b", "c"]) onFrame(conn, send(id))
      yield* TestClock.adjust(Duration.millis(1))
      assert.strictEqual(conn.unanswered, 3)
      for (const reply of replies) reply(Exit.succeed(view))
      assert.deepStrictEqual(acks(socket), ["a", "b", "c"])
      assert.deepStrictEqual(held, [true, true, true])
      // Released on the loop's next turn.
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      assert.strictEqual(raw.writableCorked, 0)
    }).pipe(Effect.provide(world(Layer.merge(stubs({}), router))))
  })
})

describe("a subscribe's ack", () => {
  it.effect("names the room it answers, from the URL or from a frame without an id, room after room", () =>
    Effect.gen(function* () {
      const rooms = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()] as Array<RoomId>
      const acks = (socket: ReturnType<typeof fakeSocket>) =>
        socket.frames.filter((f) => f.type === "ack").map((f) => [f.id, f.payload.of, f.payload.room_id])
      // Each room twice over the URL: the second join into a room gets the same answer as the first.
      for (const roomId of [...rooms, ...rooms]) {
        const socket = fakeSocket()
        yield* open(socket, { roomId })
        assert.deepStrictEqual(acks(socket), [[undefined, "channel.subscribe", roomId]])
      }
      const socket = fakeSocket()
      const conn = yield* open(socket)
      for (const roomId of [rooms[2]!, rooms[0]!]) {
        yield* arrive(conn, JSON.stringify({ type: "channel.subscribe", to: roomId }))
      }
      yield* arrive(conn, JSON.stringify({ type: "channel.subscribe", id: "with-id", to: rooms[1]! }))
      assert.deepStrictEqual(acks(socket), [
        [undefined, "channel.subscribe", rooms[2]],
        [undefined, "channel.subscribe", rooms[0]],
        ["with-id", "channel.subscribe", rooms[1]]
      ])
    }).pipe(Effect.provide(world(stubs({}))))
  )
})
