/**
 * Property-based fuzzing of `/ws` against a real server process: arbitrary text, arbitrary
 * JSON, binary frames, and envelopes built from the real event types with mutated fields.
 * Every frame must get exactly one answer (`ack`, `pong`, `error`, or `presence` for `presence.list`), matched by id,
 * the connection must stay open (except the documented 1009 for an oversized frame), and
 * the server must serve normally afterwards.
 */
import { ClientEvent, clientEventTypes, ServerEvent } from "@parley/domain"
import { Exit, Schema } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request } from "./support/http.ts"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"
import { type Account, account, connect, createRoom, joinRoom, type TestSocket } from "./support/ws.ts"
import { barrier, call, closedWithin, nextId } from "./ws.suite.ts"

/** Small, so that "huge" strings reach the limit quickly. */
const maxFrameBytes = 8192

type Frame = { readonly kind: "text"; readonly data: string } | { readonly kind: "binary"; readonly data: Uint8Array }

/** Stands for "a fresh unique id" in generated envelopes; replaced when the frame is sent. */
const UNIQUE = "\u0000unique-id\u0000"
/** The same marker inside JSON text. */
const UNIQUE_JSON = JSON.stringify(UNIQUE).slice(1, -1)

const decodeClientEvent = Schema.decodeUnknownExit(ClientEvent)
const decodeServerEvent = Schema.decodeUnknownExit(ServerEvent)

/** What the server reads: the UTF-8 bytes of the string (lone surrogates become U+FFFD). */
const wireText = (data: string) => Buffer.from(data).toString()
const frameBytes = (frame: Frame) => (frame.kind === "text" ? Buffer.byteLength(frame.data) : frame.data.length)

/** The id the answer must carry: the frame's own, when it is a usable one. */
const expectedId = (frame: Frame): string | undefined => {
  if (frame.kind === "binary") return undefined
  try {
    const id = (JSON.parse(wireText(frame.data)) as { id?: unknown } | null)?.id
    return typeof id === "string" && id.length >= 1 && id.length <= 64 ? id : undefined
  } catch {
    return undefined
  }
}

/** The oracle: whether the frame is a well-formed client event at all. */
/** The `type` of a frame that decodes as a client event. */
const typeOf = (frame: Frame): string => JSON.parse(wireText(frame.data as string)).type

const isValidEvent = (frame: Frame) => {
  if (frame.kind === "binary") return false
  let json: unknown
  try {
    json = JSON.parse(wireText(frame.data))
  } catch {
    return false
  }
  return Exit.isSuccess(decodeClientEvent(json))
}

const describeFrame = (frame: Frame) =>
  frame.kind === "binary"
    ? `binary(${frame.data.length})`
    : JSON.stringify(frame.data.length > 300 ? `${frame.data.slice(0, 300)}…(${frame.data.length})` : frame.data)

export const wsFuzzSuite = (backend: Backend) =>
  describe(`WebSocket fuzzing (${backend.name})`, () => {
    let server: RunningServer
    let owner: Account
    let peer: Account
    let roomId: string
    let privateRoom: string
    let knownMessages: Array<string>
    let arbitraries: ReturnType<typeof frameArbitraries>

    beforeAll(async () => {
      server = await startServer(backend, {
        WS_MAX_FRAME_BYTES: String(maxFrameBytes),
        RATE_MESSAGES_PER_USER: "100000"
      })
      owner = await account(server.url, "fz")
      peer = await account(server.url, "fzpeer")
      roomId = await createRoom(server.url, owner)
      await joinRoom(server.url, roomId, peer)
      privateRoom = await createRoom(server.url, peer, "private")
      knownMessages = []
      for (const content of ["one", "two", "three"]) {
        const res = await request(server.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
          token: owner.token,
          body: { content }
        })
        knownMessages.push(res.body.msg_id)
      }
      arbitraries = frameArbitraries({ roomId, privateRoom, knownMessages, userIds: [owner.id, peer.id] })
    })
    afterAll(async () => {
      await server?.stop()
    })

    /** Resolves once `done()` holds, checking after every event the socket receives. */
    const until = (sock: TestSocket, done: () => boolean, what: () => string, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        if (done()) return resolve()
        const check = () => {
          if (!done()) return
          cleanup()
          resolve()
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`timed out waiting for ${what()}`))
        }, timeoutMs)
        const closed = () => {
          cleanup()
          reject(new Error(`connection closed while waiting for ${what()}`))
        }
        const cleanup = () => {
          clearTimeout(timer)
          sock.ws.off("message", check)
          sock.ws.off("close", closed)
        }
        sock.ws.on("message", check)
        sock.ws.on("close", closed)
      })

    const isAnswer = (syncIds: Set<string>) => (e: any) =>
      (e.type === "ack" || e.type === "error" || e.type === "pong") && !(e.type === "pong" && syncIds.has(e.id))
    /** `presence.list` is answered with a `presence` event (the online list after a subscribe is no answer). */
    const answersTo = (frame: Frame, syncIds: Set<string>) => (e: any) =>
      isAnswer(syncIds)(e) || (e.type === "presence" && isValidEvent(frame) && typeOf(frame) === "presence.list")

    /**
     * Sends one frame, then a ping with a fresh id; returns the answers that arrived for the
     * frame. Every answer but a `chat.message` ack comes before the pong (the connection reads
     * frames in order); that ack may follow it, once the message is stored.
     */
    const exchange = async (sock: TestSocket, frame: Frame, syncIds: Set<string>) => {
      const before = sock.events.length
      sock.ws.send(frame.data, { binary: frame.kind === "binary" })
      const sync = nextId("sync")
      syncIds.add(sync)
      sock.send({ type: "ping", id: sync })
      const answers = () => sock.events.slice(before).filter(answersTo(frame, syncIds))
      await until(
        sock,
        () => answers().length >= 1 && sock.events.slice(before).some((e) => e.type === "pong" && e.id === sync),
        () => `the answer to ${describeFrame(frame)}; got ${JSON.stringify(sock.events.slice(before))}`
      )
      return answers()
    }

    /** The rules every answer is held to. */
    const checkAnswer = (frame: Frame, answers: Array<any>) => {
      const context = `${describeFrame(frame)} → ${JSON.stringify(answers)}`
      expect(answers, context).toHaveLength(1)
      const answer = answers[0]
      expect(Exit.isSuccess(decodeServerEvent(answer)), context).toBe(true)
      expect(answer.id, context).toBe(expectedId(frame))
      if (isValidEvent(frame)) {
        const type = typeOf(frame)
        if (answer.type === "error") {
          // A well-formed event is refused only for what it asks, never for its shape; and
          // with storage and Redis up, never for being unavailable or broken (a handler that
          // died answers `internal`).
          expect(["forbidden", "not_found"], context).toContain(answer.payload.code)
        } else if (type === "ping") {
          expect(answer.type, context).toBe("pong")
        } else if (type === "presence.list") {
          expect(answer.type, context).toBe("presence")
        } else {
          expect(answer.type, context).toBe("ack")
          expect(answer.payload.of, context).toBe(type)
        }
      } else {
        expect(answer.type, context).toBe("error")
        expect(answer.payload.code, context).toBe("invalid_event")
      }
    }

    const withUniqueIds = (frame: Frame): Frame =>
      frame.kind === "text" && frame.data.includes(UNIQUE_JSON)
        ? { kind: "text", data: frame.data.split(UNIQUE_JSON).join(nextId("fz")) }
        : frame

    it("answers every frame on one connection exactly once, and keeps it open", async () => {
      let sock = await connect(server.url, { token: owner.token })
      const syncIds = new Set<string>()
      let frames = 0
      let oversized = 0
      try {
        await fc.assert(
          fc.asyncProperty(arbitraries.frame, async (generated) => {
            const frame = withUniqueIds(generated)
            frames++
            if (frameBytes(frame) > maxFrameBytes) {
              // The one documented way a frame ends the connection: 1009, no answer.
              oversized++
              const before = sock.events.length
              sock.ws.send(frame.data, { binary: frame.kind === "binary" })
              expect((await closedWithin(sock, 5000)).code).toBe(1009)
              expect(sock.events.slice(before).filter(isAnswer(syncIds))).toEqual([])
              sock = await connect(server.url, { token: owner.token })
              return
            }
            checkAnswer(frame, await exchange(sock, frame, syncIds))
            expect(sock.ws.readyState, describeFrame(frame)).toBe(sock.ws.OPEN)
          }),
          { numRuns: 400, endOnFailure: true }
        )
        // Nothing answered twice late: after a last round trip, every frame has one answer.
        await barrier(sock)
        for (const event of sock.events) {
          expect(Exit.isSuccess(decodeServerEvent(event)), JSON.stringify(event)).toBe(true)
        }
        expect(frames).toBe(400)
        expect(oversized).toBeLessThan(frames / 4)
      } finally {
        sock.ws.terminate()
      }
      await expectServerHealthy()
    })

    it("answers a frame sent first on a fresh connection, and keeps it open", async () => {
      await fc.assert(
        fc.asyncProperty(arbitraries.frame, async (generated) => {
          const frame = withUniqueIds(generated)
          fc.pre(frameBytes(frame) <= maxFrameBytes)
          const sock = await connect(server.url, { token: peer.token })
          try {
            checkAnswer(frame, await exchange(sock, frame, new Set()))
            await barrier(sock)
            expect(sock.ws.readyState).toBe(sock.ws.OPEN)
          } finally {
            sock.ws.terminate()
          }
        }),
        { numRuns: 40, endOnFailure: true }
      )
      await expectServerHealthy()
    })

    it("closes with 1009 and answers nothing when a frame is over the limit", async () => {
      await fc.assert(
        fc.asyncProperty(arbitraries.oversized, async (frame) => {
          const sock = await connect(server.url, { token: peer.token })
          try {
            sock.ws.send(frame.data, { binary: frame.kind === "binary" })
            expect((await closedWithin(sock, 5000)).code).toBe(1009)
            expect(sock.events).toEqual([])
          } finally {
            sock.ws.terminate()
          }
        }),
        { numRuns: 10, endOnFailure: true }
      )
      await expectServerHealthy()
    })

    /** /healthz answers, and a normal message goes round: stored, acked, delivered. */
    const expectServerHealthy = async () => {
      expect((await request(server.url, "GET", "/healthz")).status).toBe(200)
      const a = await connect(server.url, { token: owner.token, roomId })
      const b = await connect(server.url, { token: peer.token, roomId })
      try {
        await a.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        await b.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        const text = `still fine ${nextId()}`
        const ack = await call(a, { type: "chat.message", to: roomId, payload: { text } })
        expect(ack.type, JSON.stringify(ack)).toBe("ack")
        const got = await b.next((e) => e.type === "chat.message" && e.payload.msg_id === ack.payload.msg_id)
        expect(got.payload).toMatchObject({ text, user_id: owner.id, seq: ack.payload.seq })
        const history = await request(server.url, "GET", `/api/chat/rooms/${roomId}/messages?limit=1`, {
          token: peer.token
        })
        expect(history.body.messages[0].msg_id).toBe(ack.payload.msg_id)
      } finally {
        a.ws.terminate()
        b.ws.terminate()
      }
    }
  })

/** Frame generators, built from the real event types of `@parley/domain`. */
const frameArbitraries = (ctx: {
  roomId: string
  privateRoom: string
  knownMessages: ReadonlyArray<string>
  userIds: ReadonlyArray<string>
}) => {
  const anyString = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({ unit: "grapheme", maxLength: 20 })
  )
  const junk: fc.Arbitrary<unknown> = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.constantFrom(0, -1, 1e308, Number.MAX_SAFE_INTEGER),
    anyString,
    fc.constantFrom("", " ", "__proto__", "constructor", "null", "undefined", "[object Object]"),
    fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
    fc.dictionary(anyString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    fc.constant(JSON.parse('{"__proto__":{"type":"ping","polluted":true}}')),
    fc.constant({ constructor: { prototype: { polluted: true } } })
  )
  /** Up to about the frame limit, in one-, two- and three-byte characters. */
  const hugeString = fc
    .tuple(fc.integer({ min: 1000, max: maxFrameBytes }), fc.constantFrom("x", "é", "€", "😀", '"', "\\"))
    .map(([bytes, ch]) => ch.repeat(Math.max(1, Math.floor(bytes / Buffer.byteLength(JSON.stringify(ch))))))
  const roomish = fc.oneof(
    { weight: 6, arbitrary: fc.constant(ctx.roomId) },
    { weight: 2, arbitrary: fc.constant(ctx.privateRoom) },
    { weight: 2, arbitrary: fc.uuid() },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        ctx.roomId.toUpperCase(),
        ` ${ctx.roomId}`,
        `${ctx.roomId}\n`,
        ctx.roomId.slice(1),
        ctx.roomId.replaceAll("-", ""),
        `{${ctx.roomId}}`,
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        ...ctx.userIds
      )
    },
    { weight: 2, arbitrary: junk }
  )
  const messageish = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ctx.knownMessages) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.uuid({ version: 1 }) },
    { weight: 1, arbitrary: fc.constantFrom("00000000-0000-0000-0000-000000000000", ctx.roomId, ...ctx.userIds) },
    { weight: 2, arbitrary: junk }
  )
  const text = fc.oneof(
    { weight: 6, arbitrary: anyString },
    { weight: 2, arbitrary: hugeString },
    { weight: 1, arbitrary: fc.constantFrom("", "x".repeat(4000), "x".repeat(4001), "\u0000", "\ud800") },
    { weight: 2, arbitrary: junk }
  )
  const clientMsgId = fc.oneof(
    fc.string({ minLength: 1, maxLength: 8 }),
    fc.constantFrom("", "k".repeat(64), "k".repeat(65)),
    junk
  )
  const payload = fc.oneof(
    { weight: 6, arbitrary: fc.record({ text, client_msg_id: clientMsgId }, { requiredKeys: [] }) },
    {
      weight: 1,
      arbitrary: fc.record(
        { text, user_id: fc.constantFrom(...ctx.userIds), username: anyString, extra: junk },
        { requiredKeys: ["text"] }
      )
    },
    { weight: 2, arbitrary: junk }
  )
  const id = fc.oneof(
    { weight: 8, arbitrary: fc.constant(UNIQUE) },
    { weight: 1, arbitrary: fc.constantFrom("", "i".repeat(64), "i".repeat(65)) },
    { weight: 1, arbitrary: fc.string({ minLength: 65, maxLength: 200 }) },
    { weight: 2, arbitrary: junk }
  )
  const type = fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(...clientEventTypes) },
    {
      weight: 2,
      arbitrary: fc.constantFrom("ack", "error", "pong", "presence", "typing", "CHAT.MESSAGE", "chat.message ", "")
    },
    { weight: 1, arbitrary: anyString },
    { weight: 1, arbitrary: junk }
  )
  /** A real event, each field kept, dropped, or swapped for something else. */
  const envelope = fc.record(
    {
      type,
      id,
      to: roomish,
      after: messageish,
      payload,
      from: fc.oneof(fc.constantFrom(...ctx.userIds), junk),
      extra: junk
    },
    { requiredKeys: [] }
  )
  /** A valid event of each type, so that acks are exercised as well as errors. */
  const valid = fc.oneof(
    fc.constant({ type: "ping", id: UNIQUE }),
    fc.constantFrom("channel.subscribe", "channel.unsubscribe", "typing.start", "typing.stop").map((t) => ({
      type: t,
      id: UNIQUE,
      to: ctx.roomId
    })),
    fc.record({
      type: fc.constant("chat.message"),
      id: fc.constant(UNIQUE),
      to: fc.constant(ctx.roomId),
      payload: fc.record({ text: fc.string({ minLength: 1, maxLength: 200 }) })
    }),
    fc
      .constantFrom(...ctx.knownMessages)
      .map((after) => ({ type: "channel.resume", id: UNIQUE, to: ctx.roomId, after }))
  )
  const nested = fc
    .tuple(fc.integer({ min: 1, max: 1500 }), fc.boolean())
    .map(([depth, inPayload]) =>
      inPayload
        ? `{"type":"chat.message","id":"${UNIQUE_JSON}","to":"${ctx.roomId}","payload":{"text":"deep","junk":${"[".repeat(depth)}${"]".repeat(depth)}}}`
        : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`
    )
  const text_ = (data: fc.Arbitrary<string>) => data.map((d): Frame => ({ kind: "text", data: d }))
  const frame: fc.Arbitrary<Frame> = fc.oneof(
    { weight: 2, arbitrary: text_(fc.string({ unit: "binary", maxLength: 200 })) },
    { weight: 2, arbitrary: text_(fc.json({ maxDepth: 3 })) },
    { weight: 1, arbitrary: text_(fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null")) },
    { weight: 10, arbitrary: text_(envelope.map((e) => JSON.stringify(e))) },
    { weight: 4, arbitrary: text_(valid.map((e) => JSON.stringify(e))) },
    { weight: 1, arbitrary: text_(nested) },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 200 }).map((data): Frame => ({ kind: "binary", data }))
    }
  )
  const oversized: fc.Arbitrary<Frame> = fc.oneof(
    text_(
      fc
        .integer({ min: maxFrameBytes + 1, max: maxFrameBytes * 4 })
        .map((n) => JSON.stringify({ type: "chat.message", to: ctx.roomId, payload: { text: "x".repeat(n) } }))
    ),
    fc
      .integer({ min: maxFrameBytes + 1, max: maxFrameBytes * 4 })
      .map((n): Frame => ({ kind: "binary", data: new Uint8Array(n) }))
  )
  return { frame, oversized }
}
