/**
 * The WebSocket protocol (`/ws`) against a real server process: the upgrade, room events,
 * the rules every frame is held to, and the server closing connections that must end
 * (token expiry, revoked sessions, dead peers, slow consumers). Called once per backend.
 */

import { connect as netConnect } from "node:net"
import { CloseCode, type UserId } from "@parley/domain"
import { Users } from "@parley/storage"
import { Effect, Layer } from "effect"
import { SignJWT } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request } from "./support/http.ts"
import { type Backend, type RunningServer, startServer, testSecret } from "./support/server.ts"
import {
  type Account,
  account,
  type Closed,
  connect,
  createRoom,
  joinRoom,
  login,
  type TestSocket
} from "./support/ws.ts"

let eventCounter = 0
/** A frame id unique within the test run. */
export const nextId = (prefix = "e") => `${prefix}-${(eventCounter++).toString(36)}`

/** Sends an event with a fresh id and waits for the `ack` or `error` (or `presence`, for `presence.list`) that answers it. */
export const call = async (sock: TestSocket, event: Record<string, unknown>) => {
  const id = nextId()
  sock.send({ ...event, id })
  return sock.next((e) => (e.type === "ack" || e.type === "error" || e.type === "presence") && e.id === id)
}

/**
 * Round trip through the connection's ordered inbound queue: once the pong is here, every
 * event the server wrote to this socket before reading the ping has arrived too.
 */
export const barrier = async (sock: TestSocket) => {
  const id = nextId("ping")
  sock.send({ type: "ping", id })
  await sock.next((e) => e.type === "pong" && e.id === id)
}

export const closedWithin = (sock: TestSocket, ms: number): Promise<Closed> =>
  Promise.race([
    sock.closed,
    new Promise<never>((_, fail) =>
      setTimeout(() => fail(new Error(`socket still open after ${ms} ms; last events ${lastEvents(sock)}`)), ms).unref()
    )
  ])

const lastEvents = (sock: TestSocket) => JSON.stringify(sock.events.slice(-5))

/** A token signed with the test servers' key: expired, short-lived, or otherwise crafted. */
const signToken = (claims: Record<string, unknown>, alg = "HS256") =>
  new SignJWT(claims).setProtectedHeader({ alg, typ: "JWT" }).sign(new TextEncoder().encode(testSecret))

const unsignedToken = (claims: Record<string, unknown>) =>
  `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(
    JSON.stringify(claims)
  ).toString("base64url")}.`

const nowSeconds = () => Math.floor(Date.now() / 1000)
const claimsOf = (who: Account, overrides: Record<string, unknown> = {}) => ({
  sub: who.id,
  sid: who.sessionId,
  iss: "parley",
  aud: "parley-api",
  iat: nowSeconds(),
  exp: nowSeconds() + 600,
  ...overrides
})

const refused = async (promise: Promise<TestSocket>) => {
  const outcome = await promise.then(
    (sock) => {
      sock.close()
      return { status: 101, body: "" }
    },
    (error) => ({ status: error.status as number | undefined, body: error.body as string | undefined })
  )
  return { status: outcome.status, body: outcome.body ? JSON.parse(outcome.body) : undefined }
}

/**
 * Writes an upgrade request and one masked text frame in a single write, then returns the
 * JSON frames the server sends back (waiting for the first).
 */
const rawUpgradeWithFrame = (httpUrl: string, token: string, text: string) =>
  new Promise<Array<any>>((resolve, reject) => {
    const url = new URL(httpUrl)
    const socket = netConnect(Number(url.port), url.hostname)
    const payload = Buffer.from(text)
    if (payload.length >= 126) throw new Error("keep the raw frame short")
    const mask = Buffer.from([1, 2, 3, 4])
    const frame = Buffer.concat([
      Buffer.from([0x81, 0x80 | payload.length]),
      mask,
      Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))
    ])
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer to a frame sent with the upgrade; got ${JSON.stringify(received.toString())}`))
    }, 5000)
    let received = Buffer.alloc(0)
    socket.on("error", reject)
    socket.on("connect", () =>
      socket.write(
        Buffer.concat([
          Buffer.from(
            `GET /ws?token=${token} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
              `Sec-WebSocket-Key: ${Buffer.from("0123456789abcdef").toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`
          ),
          frame
        ])
      )
    )
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk])
      const end = received.indexOf("\r\n\r\n")
      if (end < 0) return
      if (!received.subarray(0, end).toString().startsWith("HTTP/1.1 101")) {
        clearTimeout(timer)
        socket.destroy()
        return reject(new Error(`upgrade refused: ${received.toString()}`))
      }
      // Server frames are unmasked; these are short text frames.
      const frames: Array<any> = []
      let at = end + 4
      while (at + 2 <= received.length) {
        const length = received[at + 1]! & 0x7f
        if (length >= 126 || at + 2 + length > received.length) break
        frames.push(JSON.parse(received.subarray(at + 2, at + 2 + length).toString()))
        at += 2 + length
      }
      if (frames.length > 0) {
        clearTimeout(timer)
        socket.destroy()
        resolve(frames)
      }
    })
  })

/**
 * Applies one event to `online`, who a client knows to be online in `roomId`: the list sent
 * on subscribe starts it again, a page asked for adds to it, `presence.diff` changes it.
 * Says whether the event was about that room's presence.
 */
export const applyPresence = (online: Set<string>, event: any, roomId: string) => {
  if (event.payload?.room_id !== roomId) return false
  if (event.type === "presence") {
    if (event.id === undefined) online.clear()
    for (const u of event.payload.online) online.add(u.user_id)
    return true
  }
  if (event.type === "presence.diff") {
    for (const u of event.payload.joined) online.add(u.user_id)
    for (const u of event.payload.left) online.delete(u.user_id)
    return true
  }
  return false
}

/**
 * Waits until what `sock` knows to be online in `roomId` (everything it received, folded
 * with `applyPresence`) is exactly `userIds`, at a presence event at or after index `from`.
 */
export const presenceIs = (
  sock: TestSocket,
  roomId: string,
  userIds: ReadonlyArray<string>,
  from = 0,
  timeoutMs = 10_000
) => {
  const want = JSON.stringify([...userIds].sort())
  const online = new Set<string>()
  let index = -1
  // `next` shows the events in arrival order, each once: the fold follows along.
  return sock.next((e) => {
    index++
    return applyPresence(online, e, roomId) && index >= from && JSON.stringify([...online].sort()) === want
  }, timeoutMs)
}

export const wsSuite = (backend: Backend) =>
  describe(`WebSocket (${backend.name})`, () => {
    protocolSuite(backend)
    slowConsumerSuite(backend)
  })

const protocolSuite = (backend: Backend) =>
  describe("protocol", () => {
    let server: RunningServer
    const sockets: Array<TestSocket> = []
    /** Every socket a test opens is closed after the suite, whatever the test did. */
    const open = async (options: Parameters<typeof connect>[1]) => {
      const sock = await connect(server.url, options)
      sockets.push(sock)
      return sock
    }

    beforeAll(async () => {
      server = await startServer(backend, {
        WS_PING_INTERVAL: "500 millis",
        WS_REAUTH_INTERVAL: "500 millis",
        WS_MAX_FRAME_BYTES: "16384",
        WS_ALLOWED_ORIGINS: "https://app.example, https://other.example",
        // Longer than a 32-bit timer can count: the expiry timer must not fire at once.
        ACCESS_TOKEN_TTL: "30 days",
        RATE_MESSAGES_PER_USER: "100000",
        // Short, so that the tests wait little for what is coalesced or throttled.
        PRESENCE_WINDOW: "50 millis",
        TYPING_INTERVAL: "600 millis"
      })
    })
    afterAll(async () => {
      for (const sock of sockets) sock.ws.terminate()
      await server?.stop()
    })

    describe("the upgrade", () => {
      it("is refused with HTTP 401 and a JSON error for a missing, bad, expired, unsigned or revoked token", async () => {
        const who = await account(server.url)
        const otherKey = await new SignJWT(claimsOf(who))
          .setProtectedHeader({ alg: "HS256" })
          .sign(new TextEncoder().encode("another-secret-0123456789-abcdefghijklmnopqrstuvwxyz"))
        const revoked = await login(server.url, who.username)
        expect(
          (await request(server.url, "DELETE", `/api/sessions/${revoked.sessionId}`, { token: who.token })).status
        ).toBe(204)
        const cases: Record<string, Parameters<typeof connect>[1]> = {
          missing: {},
          empty: { token: "" },
          garbage: { token: "not.a.jwt" },
          expired: { token: await signToken(claimsOf(who, { iat: nowSeconds() - 3600, exp: nowSeconds() - 60 })) },
          "alg none": { token: unsignedToken(claimsOf(who)) },
          "other key": { token: otherKey },
          "wrong audience": { token: await signToken(claimsOf(who, { aud: "someone-else" })) },
          "revoked session": { token: revoked.token },
          "bad bearer header": { headers: { authorization: "Bearer not.a.jwt" } },
          "basic auth": { headers: { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` } }
        }
        for (const [name, options] of Object.entries(cases)) {
          const outcome = await refused(connect(server.url, options))
          expect(outcome.status, name).toBe(401)
          expect(outcome.body.error.code, name).toBe("unauthorized")
        }
        // The same account's live token is accepted: the refusals above were about the tokens.
        const sock = await open({ token: who.token })
        await barrier(sock)
      })

      it("accepts the token as an Authorization: Bearer header", async () => {
        const who = await account(server.url)
        const sock = await open({ headers: { authorization: `Bearer ${who.token}` } })
        await barrier(sock)
        expect(sock.ws.readyState).toBe(sock.ws.OPEN)
      })

      it("refuses a room_id that is not a UUID with 400", async () => {
        const who = await account(server.url)
        for (const roomId of ["general", "123", "'; DROP TABLE rooms; --", "00000000-0000-0000-0000-00000000000g"]) {
          const outcome = await refused(connect(server.url, { token: who.token, roomId }))
          expect(outcome.status, roomId).toBe(400)
          expect(outcome.body.error.code).toBe("invalid_request")
        }
      })

      it("refuses browser origins that are not listed with 403, and allows listed ones and non-browsers", async () => {
        const who = await account(server.url)
        for (const origin of [
          "https://evil.example",
          "null",
          "https://app.example.evil.example",
          "http://app.example"
        ]) {
          const outcome = await refused(connect(server.url, { token: who.token, headers: { origin } }))
          expect(outcome.status, origin).toBe(403)
          expect(outcome.body.error.code).toBe("forbidden")
        }
        for (const origin of ["https://app.example", "https://other.example"]) {
          await barrier(await open({ token: who.token, headers: { origin } }))
        }
        // No Origin header at all: not a browser, so not subject to the allowlist.
        await barrier(await open({ token: who.token }))
      })

      it("survives clients that reset the connection in the middle of the upgrade", async () => {
        const who = await account(server.url)
        const url = new URL(server.url)
        const upgradeRequest = (key = Buffer.from("0123456789abcdef").toString("base64"), token = who.token) =>
          `GET /ws?token=${token} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
        // Gone with a reset while the server checks the token, after 0 to 9 ms; a forged token
        // takes as long to refuse, so this needs no account at all.
        await Promise.all(
          Array.from(
            { length: 30 },
            (_, i) =>
              new Promise<void>((done) => {
                const socket = netConnect(Number(url.port), url.hostname)
                socket.on("error", () => {})
                socket.on("close", () => done())
                socket.on("connect", () => {
                  socket.write(upgradeRequest(undefined, i % 2 === 0 ? who.token : "forged.jwt.token"))
                  setTimeout(() => socket.resetAndDestroy(), i % 10)
                })
              })
          )
        )
        // A handshake `ws` itself refuses (bad key) is answered, not left hanging.
        const refusedByWs = await new Promise<string>((done) => {
          const socket = netConnect(Number(url.port), url.hostname)
          let reply = ""
          socket.on("error", () => {})
          socket.on("data", (chunk) => {
            reply += chunk
          })
          socket.on("close", () => done(reply))
          socket.on("connect", () => socket.write(upgradeRequest("short")))
          setTimeout(() => socket.destroy(), 5000).unref()
        })
        expect(refusedByWs).toMatch(/^HTTP\/1\.1 400 /)
        expect((await request(server.url, "GET", "/healthz")).status).toBe(200)
        await barrier(await open({ token: who.token }))
      })

      it("answers a frame sent the moment the socket opens, on many connections at once", async () => {
        const who = await account(server.url)
        // The ping goes out in the same tick as the open event.
        await Promise.all(Array.from({ length: 20 }, () => open({ token: who.token }).then(barrier)))
        // Sent in the same TCP segment as the upgrade request itself.
        const answers = await rawUpgradeWithFrame(server.url, who.token, JSON.stringify({ type: "ping", id: "early" }))
        expect(answers[0]).toEqual({ type: "pong", id: "early" })
      })
    })

    describe("rooms", () => {
      it("auto-subscribes with room_id: acks it and sends the room's presence", async () => {
        const owner = await account(server.url)
        const roomId = await createRoom(server.url, owner)
        const sock = await open({ token: owner.token, roomId })
        const ack = await sock.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        expect(ack.payload.room_id).toBe(roomId)
        await presenceIs(sock, roomId, [owner.id])
      })

      it("auto-subscribing to a private room as a non-member is refused at once, naming the room", async () => {
        const owner = await account(server.url)
        const outsider = await account(server.url)
        const privateRoom = await createRoom(server.url, owner, "private")
        const sock = await open({ token: outsider.token, roomId: privateRoom })
        // Sent as the socket opens: the refusal must come before this ping's answer, not
        // from the periodic re-check (every 500 ms here) after a subscription that let it in.
        await barrier(sock)
        const refusal = sock.events.findIndex((e) => e.type === "error")
        expect(refusal, JSON.stringify(sock.events)).toBeGreaterThanOrEqual(0)
        expect(refusal).toBeLessThan(sock.events.findIndex((e) => e.type === "pong"))
        expect(sock.events[refusal].payload).toMatchObject({ code: "forbidden", room_id: privateRoom })
        // A message posted to the room now is not delivered to it either.
        const watcher = await open({ token: owner.token, roomId: privateRoom })
        await watcher.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        const posted = await request(server.url, "POST", `/api/chat/rooms/${privateRoom}/messages`, {
          token: owner.token,
          body: { content: "members only" }
        })
        expect(posted.status).toBe(201)
        await watcher.next((e) => e.type === "chat.message" && e.payload.msg_id === posted.body.msg_id)
        await barrier(sock)
        expect(sock.events.filter((e) => ["presence", "chat.message", "ack", "typing"].includes(e.type))).toEqual([])
        expect(sock.events.filter((e) => e.type === "error")).toHaveLength(1)
      })

      it("delivers a chat.message to every subscriber, acks it with msg_id and seq after storing it", async () => {
        const alice = await account(server.url)
        const bob = await account(server.url)
        const roomId = await createRoom(server.url, alice)
        await joinRoom(server.url, roomId, bob)
        const a = await open({ token: alice.token })
        const b = await open({ token: bob.token })
        expect((await call(a, { type: "channel.subscribe", to: roomId })).type).toBe("ack")
        expect((await call(b, { type: "channel.subscribe", to: roomId })).payload).toEqual({
          of: "channel.subscribe",
          room_id: roomId
        })

        const ack = await call(a, { type: "chat.message", to: roomId, payload: { text: "hello from ws" } })
        expect(ack.type).toBe("ack")
        expect(ack.payload).toMatchObject({ of: "chat.message", room_id: roomId })
        expect(ack.payload.msg_id).toMatch(/^[0-9a-f-]{36}$/)
        expect(ack.payload.seq).toBe(1)

        const received = await b.next((e) => e.type === "chat.message" && e.payload.msg_id === ack.payload.msg_id)
        expect(received.payload).toMatchObject({
          room_id: roomId,
          msg_id: ack.payload.msg_id,
          seq: 1,
          user_id: alice.id,
          username: alice.username,
          text: "hello from ws"
        })
        expect(Number.isNaN(Date.parse(received.payload.created_at))).toBe(false)
        // The sender is a subscriber too.
        await a.next((e) => e.type === "chat.message" && e.payload.msg_id === ack.payload.msg_id)

        const history = await request(server.url, "GET", `/api/chat/rooms/${roomId}/messages?limit=10`, {
          token: bob.token
        })
        expect(history.status).toBe(200)
        expect(history.body.messages.map((m: any) => m.msg_id)).toContain(ack.payload.msg_id)
      })

      it("ignores a client-sent `from`: the message is the authenticated user's", async () => {
        const alice = await account(server.url)
        const mallory = await account(server.url)
        const roomId = await createRoom(server.url, alice)
        await joinRoom(server.url, roomId, mallory)
        const a = await open({ token: alice.token, roomId })
        const m = await open({ token: mallory.token, roomId })
        await m.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        await a.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")

        const ack = await call(m, {
          type: "chat.message",
          from: alice.id,
          user_id: alice.id,
          to: roomId,
          payload: { text: "i am alice", user_id: alice.id, username: alice.username }
        })
        expect(ack.type).toBe("ack")
        const seen = await a.next((e) => e.type === "chat.message" && e.payload.msg_id === ack.payload.msg_id)
        expect(seen.payload.user_id).toBe(mallory.id)
        expect(seen.payload.username).toBe(mallory.username)
        const history = await request(server.url, "GET", `/api/chat/rooms/${roomId}/messages?limit=1`, {
          token: alice.token
        })
        expect(history.body.messages[0]).toMatchObject({ msg_id: ack.payload.msg_id, user_id: mallory.id })
      })

      it("stores and delivers a retried client_msg_id once, acking every try with the same msg_id", async () => {
        const alice = await account(server.url)
        const bob = await account(server.url)
        const roomId = await createRoom(server.url, alice)
        await joinRoom(server.url, roomId, bob)
        const a = await open({ token: alice.token, roomId })
        const b = await open({ token: bob.token, roomId })
        await a.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        await b.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")

        const send = (client_msg_id: string) =>
          call(a, { type: "chat.message", to: roomId, payload: { text: "once", client_msg_id } })
        // Sequential retry, after the first ack.
        const first = await send("retry-1")
        const again = await send("retry-1")
        expect(again.payload.msg_id).toBe(first.payload.msg_id)
        expect(again.payload.seq).toBe(first.payload.seq)
        // Pipelined retries, all in the room's mailbox at once.
        const burst = await Promise.all([send("retry-2"), send("retry-2"), send("retry-2")])
        expect(new Set(burst.map((ack) => ack.payload.msg_id)).size).toBe(1)
        expect(burst[0].payload.msg_id).not.toBe(first.payload.msg_id)
        // Over HTTP the same key is the same message too.
        const overHttp = await request(server.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
          token: alice.token,
          body: { content: "once", client_msg_id: "retry-1" }
        })
        expect(overHttp.body.msg_id).toBe(first.payload.msg_id)

        const marker = await call(a, { type: "chat.message", to: roomId, payload: { text: "marker" } })
        await b.next((e) => e.type === "chat.message" && e.payload.msg_id === marker.payload.msg_id)
        expect(b.messages(roomId).map((e) => e.payload.text)).toEqual(["once", "once", "marker"])
        expect(b.messages(roomId).map((e) => e.payload.seq)).toEqual([1, 2, 3])
        const history = await request(server.url, "GET", `/api/chat/rooms/${roomId}/messages?limit=10`, {
          token: bob.token
        })
        expect(history.body.messages).toHaveLength(3)
      })

      it("stops delivering after channel.unsubscribe", async () => {
        const alice = await account(server.url)
        const bob = await account(server.url)
        const roomId = await createRoom(server.url, alice)
        await joinRoom(server.url, roomId, bob)
        const a = await open({ token: alice.token, roomId })
        const b = await open({ token: bob.token, roomId })
        await a.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        await b.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")

        const before = await call(a, { type: "chat.message", to: roomId, payload: { text: "before" } })
        await b.next((e) => e.type === "chat.message" && e.payload.msg_id === before.payload.msg_id)
        const unsubscribed = await call(b, { type: "channel.unsubscribe", to: roomId })
        expect(unsubscribed).toMatchObject({ type: "ack", payload: { of: "channel.unsubscribe", room_id: roomId } })
        // Alice sees Bob leave the room's presence.
        await presenceIs(a, roomId, [alice.id])

        const after = await call(a, { type: "chat.message", to: roomId, payload: { text: "after" } })
        // Alice's copy is broadcast in the same pass that would have reached Bob.
        await a.next((e) => e.type === "chat.message" && e.payload.msg_id === after.payload.msg_id)
        await barrier(b)
        expect(b.messages(roomId).map((e) => e.payload.text)).toEqual(["before"])

        // Subscribing again resumes live delivery.
        await call(b, { type: "channel.subscribe", to: roomId })
        const again = await call(a, { type: "chat.message", to: roomId, payload: { text: "again" } })
        await b.next((e) => e.type === "chat.message" && e.payload.msg_id === again.payload.msg_id)
      })

      it("answers forbidden to a non-member subscribing to a private room and stays open", async () => {
        const owner = await account(server.url)
        const outsider = await account(server.url)
        const privateRoom = await createRoom(server.url, owner, "private")
        const sock = await open({ token: outsider.token })
        const answer = await call(sock, { type: "channel.subscribe", to: privateRoom })
        expect(answer.type).toBe("error")
        expect(answer.payload.code).toBe("forbidden")
        // A room that does not exist gets the same answer, so private rooms do not leak.
        const missing = await call(sock, { type: "channel.subscribe", to: crypto.randomUUID() })
        expect(missing.payload).toEqual(answer.payload)
        // Nor may they post or type in it.
        const post = await call(sock, { type: "chat.message", to: privateRoom, payload: { text: "let me in" } })
        expect(post.payload.code).toBe("forbidden")
        expect((await call(sock, { type: "typing.start", to: privateRoom })).payload.code).toBe("forbidden")
        await barrier(sock)
        const history = await request(server.url, "GET", `/api/chat/rooms/${privateRoom}/messages`, {
          token: owner.token
        })
        expect(history.body.messages).toEqual([])
      })

      it("forwards typing to the others in the room, never to a lone typer; start and stop share one throttle", async () => {
        const alice = await account(server.url)
        const bob = await account(server.url)
        const roomId = await createRoom(server.url, alice)
        const a = await open({ token: alice.token, roomId })
        const b = await open({ token: bob.token, roomId })
        await a.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        await b.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        const typingOf = (sock: TestSocket) => sock.events.filter((e) => e.type === "typing")
        const aliceView = { user_id: alice.id, username: alice.username }

        for (let i = 0; i < 10; i++) {
          expect((await call(a, { type: "typing.start", to: roomId })).type).toBe("ack")
        }
        // Stops and starts alike wait for the interval (600 ms here): the state Alice ends in
        // goes out when it is over, once. She ends stopped: Bob sees one start, then one stop.
        for (let i = 0; i < 20; i++) {
          expect((await call(a, { type: "typing.stop", to: roomId })).type).toBe("ack")
          expect((await call(a, { type: "typing.start", to: roomId })).type).toBe("ack")
        }
        expect((await call(a, { type: "typing.stop", to: roomId })).type).toBe("ack")
        await b.next((e) => e.type === "typing" && e.payload.stopped.length === 1)
        expect(typingOf(b).map((e) => e.payload)).toEqual([
          { room_id: roomId, started: [aliceView], stopped: [] },
          { room_id: roomId, started: [], stopped: [aliceView] }
        ])
        // Typing again goes out when the stop's interval is over; then disconnecting while
        // typing ends the indicator for the others at once.
        await call(a, { type: "typing.start", to: roomId })
        await b.next((e) => e.type === "typing" && typingOf(b).length === 3)
        expect(typingOf(b).at(-1).payload.started).toEqual([aliceView])
        await barrier(a)
        expect(typingOf(a)).toEqual([])
        a.close()
        await b.next((e) => e.type === "typing" && typingOf(b).length === 4)
        expect(typingOf(b).at(-1).payload).toEqual({ room_id: roomId, started: [], stopped: [aliceView] })
      })

      it("stops delivering a private room to a member removed from it", async () => {
        const owner = await account(server.url)
        const bob = await account(server.url)
        const roomId = await createRoom(server.url, owner, "private")
        const added = await request(server.url, "PUT", `/api/chat/rooms/${roomId}/members/${bob.id}`, {
          token: owner.token,
          body: { role: "member" }
        })
        expect(added.status).toBe(200)
        const o = await open({ token: owner.token, roomId })
        const b = await open({ token: bob.token, roomId })
        await presenceIs(o, roomId, [owner.id, bob.id])
        const before = await call(o, { type: "chat.message", to: roomId, payload: { text: "for members" } })
        await b.next((e) => e.type === "chat.message" && e.payload.msg_id === before.payload.msg_id)

        const mark = o.events.length
        const removed = await request(server.url, "DELETE", `/api/chat/rooms/${roomId}/members/${bob.id}`, {
          token: owner.token
        })
        expect(removed.status).toBe(204)
        // Within a reauth interval Bob is told, and unsubscribed.
        const notice = await b.next((e) => e.type === "error" && e.payload.room_id === roomId, 5000)
        expect(notice.payload.code).toBe("forbidden")
        await presenceIs(o, roomId, [owner.id], mark)
        const after = await call(o, { type: "chat.message", to: roomId, payload: { text: "members only" } })
        await o.next((e) => e.type === "chat.message" && e.payload.msg_id === after.payload.msg_id)
        await barrier(b)
        expect(b.messages(roomId).map((e) => e.payload.text)).toEqual(["for members"])
        // Nor can he post there any more, or subscribe again.
        const post = await call(b, { type: "chat.message", to: roomId, payload: { text: "still here?" } })
        expect(post.payload.code).toBe("forbidden")
        expect((await call(b, { type: "channel.subscribe", to: roomId })).payload.code).toBe("forbidden")
      })

      it("lists everyone subscribed in presence, and drops a user when their connection closes", async () => {
        const alice = await account(server.url)
        const bob = await account(server.url)
        const roomId = await createRoom(server.url, alice)
        const a = await open({ token: alice.token, roomId })
        await presenceIs(a, roomId, [alice.id])
        const b = await open({ token: bob.token, roomId })
        await presenceIs(b, roomId, [alice.id, bob.id])
        await presenceIs(a, roomId, [alice.id, bob.id])
        // A second connection of Bob's keeps him online when the first one closes. Once b2 has
        // its own presence event, Alice's copy (same broadcast pass) is in before the barrier.
        const b2 = await open({ token: bob.token, roomId })
        await presenceIs(b2, roomId, [alice.id, bob.id])
        await barrier(a)
        const mark = a.events.length
        b.close()
        await b.closed
        // Nothing changed (Bob is still online through b2): no event. Carol's arrival is the
        // next news Alice gets, and Bob leaves only when his last connection closes.
        const carol = await account(server.url)
        await open({ token: carol.token, roomId })
        await presenceIs(a, roomId, [alice.id, bob.id, carol.id], mark)
        b2.close()
        await presenceIs(a, roomId, [alice.id, carol.id], mark)
        const diffs = a.events.slice(mark).filter((e) => e.type === "presence.diff")
        expect(
          diffs.map((e) => [e.payload.joined.map((u: any) => u.user_id), e.payload.left.map((u: any) => u.user_id)])
        ).toEqual([
          [[carol.id], []],
          [[], [bob.id]]
        ])
      })

      it("reads a room id in any letter case as the same room, never as a second one", async () => {
        const alice = await account(server.url)
        const bob = await account(server.url)
        const roomId = await createRoom(server.url, alice)
        const upper = roomId.toUpperCase()
        const b = await open({ token: bob.token, roomId: upper })
        const subscribed = await b.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        expect(subscribed.payload.room_id).toBe(roomId)
        const a = await open({ token: alice.token })
        expect((await call(a, { type: "channel.subscribe", to: upper })).payload.room_id).toBe(roomId)
        // One presence list for the room, whatever case each client used.
        await presenceIs(b, roomId, [alice.id, bob.id])

        const acks = []
        for (const to of [roomId, upper, roomId, upper]) {
          const ack = await call(a, {
            type: "chat.message",
            to,
            payload: { text: `via ${to === upper ? "upper" : "lower"}` }
          })
          expect(ack.type, JSON.stringify(ack)).toBe("ack")
          expect(ack.payload.room_id).toBe(roomId)
          acks.push(ack)
        }
        expect(acks.map((ack) => ack.payload.seq)).toEqual([1, 2, 3, 4])
        const last = acks[3].payload.msg_id
        await b.next((e) => e.type === "chat.message" && e.payload.msg_id === last)
        expect(b.messages(roomId).map((e) => e.payload.seq)).toEqual([1, 2, 3, 4])
        const history = await request(server.url, "GET", `/api/chat/rooms/${roomId}/messages?limit=10`, {
          token: alice.token
        })
        expect(history.body.messages.map((m: any) => m.seq)).toEqual([4, 3, 2, 1])
        // Typing sent to the upper-case id reaches the room too.
        await call(a, { type: "typing.start", to: upper })
        const typing = await b.next((e) => e.type === "typing")
        expect(typing.payload.room_id).toBe(roomId)
      })

      it("replays what was missed with channel.resume, in order, then continues live", async () => {
        const alice = await account(server.url)
        const roomId = await createRoom(server.url, alice)
        const sent = []
        for (let i = 0; i < 5; i++) {
          const res = await request(server.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
            token: alice.token,
            body: { content: `m${i}` }
          })
          sent.push(res.body)
        }
        const sock = await open({ token: alice.token })
        const ack = await call(sock, { type: "channel.resume", to: roomId, after: sent[1].msg_id })
        expect(ack.payload).toMatchObject({ of: "channel.resume", room_id: roomId, replayed: 3 })
        const live = await call(sock, { type: "chat.message", to: roomId, payload: { text: "live" } })
        await sock.next((e) => e.type === "chat.message" && e.payload.msg_id === live.payload.msg_id)
        expect(sock.messages(roomId).map((e) => e.payload.text)).toEqual(["m2", "m3", "m4", "live"])
      })

      it("resumes from the newest message with nothing to replay, then continues live", async () => {
        const alice = await account(server.url)
        const roomId = await createRoom(server.url, alice)
        const newest = await request(server.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
          token: alice.token,
          body: { content: "seen before the reconnect" }
        })
        const sock = await open({ token: alice.token })
        const ack = await call(sock, { type: "channel.resume", to: roomId, after: newest.body.msg_id })
        expect(ack.payload).toMatchObject({ of: "channel.resume", room_id: roomId, replayed: 0 })
        const live = await call(sock, { type: "chat.message", to: roomId, payload: { text: "live" } })
        expect(live.payload.seq).toBe(2)
        await sock.next((e) => e.type === "chat.message" && e.payload.msg_id === live.payload.msg_id)
        expect(sock.messages(roomId).map((e) => e.payload.text)).toEqual(["live"])
      })
    })

    describe("malformed frames", () => {
      it("answers invalid_event to each, with the frame's id when it has one, and stays open", async () => {
        const who = await account(server.url)
        const roomId = await createRoom(server.url, who)
        const sock = await open({ token: who.token })
        const frames: Array<[string, string | Buffer, string | undefined]> = [
          ["invalid JSON", "{not json", undefined],
          ["empty frame", "", undefined],
          ["JSON that is not an object", "[1,2,3]", undefined],
          ["a bare string", '"ping"', undefined],
          ["null", "null", undefined],
          ["no type", JSON.stringify({ id: "t1", to: roomId }), "t1"],
          ["type not a string", JSON.stringify({ type: 7, id: "t2" }), "t2"],
          ["unknown type", JSON.stringify({ type: "chat.delete", id: "t3", to: roomId }), "t3"],
          ["bad UUID", JSON.stringify({ type: "channel.subscribe", id: "t4", to: "not-a-uuid" }), "t4"],
          ["missing to", JSON.stringify({ type: "channel.subscribe", id: "t5" }), "t5"],
          ["missing payload", JSON.stringify({ type: "chat.message", id: "t6", to: roomId }), "t6"],
          ["missing text", JSON.stringify({ type: "chat.message", id: "t7", to: roomId, payload: {} }), "t7"],
          ["empty text", JSON.stringify({ type: "chat.message", id: "t8", to: roomId, payload: { text: "" } }), "t8"],
          [
            "text too long",
            JSON.stringify({ type: "chat.message", id: "t9", to: roomId, payload: { text: "x".repeat(4001) } }),
            "t9"
          ],
          ["numeric to", JSON.stringify({ type: "typing.start", id: "t10", to: 12 }), "t10"],
          ["resume without after", JSON.stringify({ type: "channel.resume", id: "t11", to: roomId }), "t11"],
          [
            // Message ids are TIMEUUIDs; a random (v4) UUID is no position in a room.
            "resume after a non-time UUID",
            JSON.stringify({ type: "channel.resume", id: "t13", to: roomId, after: crypto.randomUUID() }),
            "t13"
          ],
          ["id too long", JSON.stringify({ type: "ping", id: "x".repeat(65) }), undefined],
          ["id not a string", JSON.stringify({ type: "ping", id: 5 }), undefined],
          ["binary frame", Buffer.from(JSON.stringify({ type: "ping", id: "t12" })), undefined]
        ]
        for (const [name, frame, id] of frames) {
          const before = sock.events.length
          sock.ws.send(frame)
          await barrier(sock)
          const answers = sock.events.slice(before).filter((e) => e.type !== "pong" || !String(e.id).startsWith("ping"))
          expect(answers, name).toHaveLength(1)
          expect(answers[0].type, name).toBe("error")
          expect(answers[0].payload.code, name).toBe("invalid_event")
          expect(typeof answers[0].payload.message, name).toBe("string")
          expect(answers[0].id, name).toBe(id)
        }
        expect(sock.ws.readyState).toBe(sock.ws.OPEN)
        // Nothing malformed was stored.
        const history = await request(server.url, "GET", `/api/chat/rooms/${roomId}/messages`, { token: who.token })
        expect(history.body.messages).toEqual([])
      })

      // Whether a burst overflows the queue depends on how fast the server drains it (pings are
      // answered as they are read); the overflow itself is tested in process (ws-connection.test.ts).
      it("answers every frame of a burst exactly once, refusing only with rate_limited", async () => {
        const who = await account(server.url)
        const sock = await open({ token: who.token })
        // 2000 pings in one go: far more than the connection queues (256), all in a few reads.
        const ids = Array.from({ length: 2000 }, () => nextId("burst"))
        for (const id of ids) sock.ws.send(JSON.stringify({ type: "ping", id }))
        const burst = new Set(ids)
        const answered = () => sock.events.filter((e) => burst.has(e.id))
        await sock.next(() => answered().length >= ids.length)
        await barrier(sock)
        const answers = answered()
        expect(answers.map((e) => e.id).sort()).toEqual([...ids].sort())
        const limited = answers.filter((e) => e.type === "error")
        for (const e of limited) expect(e.payload.code).toBe("rate_limited")
        expect(answers.filter((e) => e.type === "pong").length).toBeGreaterThanOrEqual(256)
        expect(sock.ws.readyState).toBe(sock.ws.OPEN)
      })

      it("closes with 1009 on a frame over the size limit", async () => {
        const who = await account(server.url)
        const roomId = await createRoom(server.url, who)
        const sock = await open({ token: who.token })
        // Just under the limit is fine (an error: the text is too long, but the frame is read).
        const under = JSON.stringify({ type: "chat.message", id: "u", to: roomId, payload: { text: "" } })
        sock.send(under.replace('"text":""', `"text":"${"x".repeat(16384 - under.length)}"`))
        expect((await sock.next((e) => e.id === "u")).payload.code).toBe("invalid_event")
        sock.send({ type: "chat.message", to: roomId, payload: { text: "y".repeat(16385) } })
        expect((await closedWithin(sock, 5000)).code).toBe(CloseCode.messageTooBig)
      })
    })

    describe("the server ends connections", () => {
      it("closes with 4001 when the access token expires", async () => {
        const who = await account(server.url)
        const roomId = await createRoom(server.url, who)
        const token = await signToken(claimsOf(who, { exp: nowSeconds() + 2 }))
        const sock = await open({ token, roomId })
        await sock.next((e) => e.type === "ack")
        const opened = Date.now()
        const closed = await closedWithin(sock, 5000)
        expect(closed.code).toBe(CloseCode.tokenExpired)
        expect(Date.now() - opened).toBeLessThan(3500)
        // A fresh token for the same session reconnects.
        await barrier(await open({ token: who.token }))
      })

      it("closes with 4003 within a few reauth intervals once the account is disabled", async () => {
        const who = await account(server.url)
        const bystander = await account(server.url)
        const roomId = await createRoom(server.url, who)
        const sock = await open({ token: who.token, roomId })
        const other = await open({ token: bystander.token, roomId })
        await presenceIs(other, roomId, [who.id, bystander.id])
        await Effect.runPromise(
          Effect.gen(function* () {
            const users = yield* Users
            yield* users.update(who.id as UserId, { disabled: true }, Date.now())
          }).pipe(Effect.provide(backend.storage(server.env).pipe(Layer.orDie)))
        )
        expect((await closedWithin(sock, 5000)).code).toBe(CloseCode.sessionRevoked)
        await presenceIs(other, roomId, [bystander.id])
        expect(other.ws.readyState).toBe(other.ws.OPEN)
        expect((await refused(connect(server.url, { token: who.token }))).status).toBe(401)
      })

      it("closes with 4003 when the session logs out, and only that session's sockets", async () => {
        const who = await account(server.url)
        const second = await login(server.url, who.username)
        const sock = await open({ token: who.token })
        const kept = await open({ token: second.token })
        const out = await request(server.url, "POST", "/api/logout", {
          token: who.token,
          body: { refresh_token: who.refreshToken }
        })
        expect(out.status).toBe(204)
        expect((await closedWithin(sock, 5000)).code).toBe(CloseCode.sessionRevoked)
        // The other session's socket lives through two more reauth checks.
        await new Promise((r) => setTimeout(r, 1000))
        await barrier(kept)
        expect((await refused(connect(server.url, { token: who.token }))).status).toBe(401)
      })

      it("closes with 4003 when the session is revoked from another device", async () => {
        const who = await account(server.url)
        const laptop = await login(server.url, who.username)
        const sock = await open({ token: who.token })
        const res = await request(server.url, "DELETE", `/api/sessions/${who.sessionId}`, { token: laptop.token })
        expect(res.status).toBe(204)
        expect((await closedWithin(sock, 5000)).code).toBe(CloseCode.sessionRevoked)
      })

      it("terminates a peer that does not answer pings and drops it from presence", async () => {
        const alice = await account(server.url)
        const ghost = await account(server.url)
        const roomId = await createRoom(server.url, alice)
        const a = await open({ token: alice.token, roomId })
        const g = await open({ token: ghost.token, roomId, autoPong: false })
        await presenceIs(a, roomId, [alice.id, ghost.id])
        const mark = a.events.length
        // Two ping intervals of 500 ms without a pong; the server does not say goodbye.
        expect((await closedWithin(g, 5000)).code).toBe(1006)
        await presenceIs(a, roomId, [alice.id], mark)
        // A peer that answers pings stays: Alice has been connected through several intervals.
        await barrier(a)
      })
    })
  })

/**
 * A consumer that stops reading while others flood its room is cut off (1013) instead of
 * growing server memory, and nobody else misses or reorders a message meanwhile.
 */
const slowConsumerSuite = (backend: Backend) =>
  describe("slow consumer", () => {
    let server: RunningServer
    beforeAll(async () => {
      server = await startServer(backend, {
        WS_MAX_BUFFERED_BYTES: String(256 * 1024),
        // Long enough that the ping timeout cannot be what ends the paused connection.
        WS_PING_INTERVAL: "60 seconds",
        RATE_MESSAGES_PER_USER: "100000"
      })
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("closes a client that stops reading, while the others get every message in order", async () => {
      const sender = await account(server.url)
      const watcher = await account(server.url)
      const sloth = await account(server.url)
      const roomId = await createRoom(server.url, sender)
      await joinRoom(server.url, roomId, watcher)
      const s = await connect(server.url, { token: sender.token, roomId })
      const w = await connect(server.url, { token: watcher.token, roomId })
      const slow = await connect(server.url, { token: sloth.token, roomId })
      try {
        await presenceIs(w, roomId, [sender.id, watcher.id, sloth.id])
        const mark = w.events.length
        ;(slow.ws as any)._socket.pause()

        // 4000 three-byte characters: ~12 KB per frame. Flood in pipelined batches until the
        // server gives up on the paused reader (its slow-consumer counter moves), with a hard cap.
        const text = "€".repeat(4000)
        const acks: Array<any> = []
        const flood = async () => {
          const batch = await Promise.all(
            Array.from({ length: 50 }, () => call(s, { type: "chat.message", to: roomId, payload: { text } }))
          )
          for (const ack of batch) expect(ack.type, JSON.stringify(ack.payload)).toBe("ack")
          acks.push(...batch)
        }
        const closedSoFar = async () => {
          const metrics = await (await fetch(server.metricsUrl)).text()
          return Number(/^parley_ws_slow_consumers_closed_total(?:\{[^}]*\})? (\S+)$/m.exec(metrics)?.[1] ?? 0)
        }
        const before = await closedSoFar()
        const decided = async () => (await closedSoFar()) > before
        while (!(await decided()) && acks.length < 5000) await flood()
        expect(await decided(), `no slow consumer closed after ${acks.length} messages`).toBe(true)

        // Reading again within the grace period, it drains what was buffered and then finds
        // the close frame: 1013, "reconnect and resume".
        ;(slow.ws as any)._socket.resume()
        const closed = await closedWithin(slow, 10_000)
        expect(closed.code).toBe(CloseCode.tryAgainLater)
        const got = slow.messages(roomId)
        expect(got.length).toBeGreaterThan(0)
        expect(got.length).toBeLessThan(acks.length)
        // What it did get is a gap-free prefix, so it can resume from its last msg_id.
        expect(got.map((e) => e.payload.seq)).toEqual(got.map((_, i) => i + 1))
        await presenceIs(w, roomId, [sender.id, watcher.id], mark)

        // Traffic after the cut-off still reaches the watcher, and it missed nothing.
        await flood()
        const last = acks[acks.length - 1].payload.msg_id
        await w.next((e) => e.type === "chat.message" && e.payload.msg_id === last, 30_000)
        const seen = w.messages(roomId)
        expect(seen.map((e) => e.payload.msg_id)).toEqual(acks.map((a) => a.payload.msg_id))
        expect(seen.map((e) => e.payload.seq)).toEqual(acks.map((_, i) => i + 1))
      } finally {
        for (const sock of [s, w, slow]) sock.ws.terminate()
      }
    })
  })
