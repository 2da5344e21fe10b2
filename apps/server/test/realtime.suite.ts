/**
 * The chat core's guarantees, end to end over real sockets: one order for everyone equal to
 * storage order, no loss and no duplicates, resume without a seam, and no ack before the
 * message is durable. With Redis, some subscribers sit on a second server process.
 */
import { rmSync } from "node:fs"
import { Redis as IORedis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually, type Reply, request } from "./support/http.ts"
import { type Backend, type RunningServer, startAnotherNode, startServer } from "./support/server.ts"
import { account, connect, createRoom, joinRoom, type TestSocket } from "./support/ws.ts"
import { presenceIs } from "./ws.suite.ts"

// A short presence TTL lets a crashed node's users drop out within seconds.
const fastLimits = { RATE_MESSAGES_PER_USER: "100000", PRESENCE_TTL: "3 seconds" }

/** The smallest TIMEUUID: every message comes after it. */
const beginningOfTime = "00000000-0000-1000-8000-000000000000"

/** The room's whole history, oldest first, through `?after` cursors. */
export const history = async (base: string, token: string, roomId: string) => {
  const all: Array<any> = []
  let after: string | null = null
  for (;;) {
    const query: string = `limit=100&after=${after ?? beginningOfTime}`
    const path = `/api/chat/rooms/${roomId}/messages?${query}`
    let page: Reply = await request(base, "GET", path, { token })
    // Right after a storage outage (or on a loaded machine) a read may get 503 for a moment,
    // as any client would; it retries, a bounded number of times.
    for (let retry = 0; page.status === 503 && retry < 20; retry++) {
      await new Promise((r) => setTimeout(r, 100))
      page = await request(base, "GET", path, { token })
    }
    expect(page.status, JSON.stringify(page.body)).toBe(200)
    all.push(...page.body.messages)
    if (page.body.next_cursor === null) return all
    after = page.body.next_cursor
  }
}

const join_ = (base: string, token: string, roomId: string) =>
  request(base, "POST", `/api/chat/rooms/${roomId}/join`, { token }).then((r) => expect(r.status).toBe(200))

const ids = (messages: ReadonlyArray<any>) => messages.map((m) => m.payload?.msg_id ?? m.msg_id)

export const realtimeSuite = (backend: Backend, options: { readonly twoNodes: boolean }) =>
  describe(`realtime delivery (${backend.name}${options.twoNodes ? ", two nodes" : ""})`, () => {
    let a: RunningServer
    let b: RunningServer
    const anotherNode = () => startAnotherNode(backend, a)

    beforeAll(async () => {
      a = await startServer(backend, fastLimits)
      if (options.twoNodes) {
        b = await anotherNode()
      } else {
        b = a
      }
    })
    afterAll(async () => {
      await a?.stop()
      if (b !== a) await b?.stop()
    })

    it("K senders x M messages (on every node) reach N subscribers exactly once, in one order equal to storage order", async () => {
      const K = 4
      const M = 50
      const N = 6
      const owner = await account(a.url, "own")
      const roomId = await createRoom(a.url, owner)
      const senders = await Promise.all(Array.from({ length: K }, () => account(a.url, "snd")))
      await Promise.all(senders.map((s) => join_(a.url, s.token, roomId)))

      const subscribers: Array<TestSocket> = []
      for (let i = 0; i < N; i++) {
        const user = await account(a.url, "sub")
        const node = i % 2 === 0 ? a : b
        const socket = await connect(node.url, { token: user.token, roomId })
        await socket.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        subscribers.push(socket)
      }

      // K-1 WebSocket senders, spread over the nodes, pipeline all their messages; one sender
      // posts over HTTP.
      const wsSenders = await Promise.all(
        senders.slice(1).map((s, k) => connect((k % 2 === 0 ? b : a).url, { token: s.token }))
      )
      const httpSender = senders[0]!
      const started = Date.now()
      const httpSends = (async () => {
        for (let i = 0; i < M; i++) {
          const res = await request(a.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
            token: httpSender.token,
            body: { content: `s0-${i}`, client_msg_id: `c0-${i}` }
          })
          expect(res.status, JSON.stringify(res.body)).toBe(201)
        }
      })()
      wsSenders.forEach((socket, k) => {
        for (let i = 0; i < M; i++) {
          socket.send({ type: "chat.message", id: `${k + 1}-${i}`, to: roomId, payload: { text: `s${k + 1}-${i}` } })
        }
      })
      await httpSends
      await eventually(() => {
        for (const socket of wsSenders) expect(socket.events.filter((e) => e.type === "ack").length).toBe(M)
      })
      for (const socket of wsSenders) expect(socket.events.filter((e) => e.type === "error")).toEqual([])

      await eventually(() => {
        for (const socket of subscribers) expect(socket.messages(roomId).length).toBe(K * M)
      })
      const elapsed = Date.now() - started
      const stored = await history(a.url, owner.token, roomId)
      expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: K * M }, (_, i) => i + 1))
      for (const socket of subscribers) expect(ids(socket.messages(roomId))).toEqual(ids(stored))
      // Each sender's messages keep the order they were sent in.
      for (let k = 0; k < K; k++) {
        const texts = stored.filter((m) => m.username === senders[k]!.username).map((m) => m.text)
        expect(texts).toEqual(Array.from({ length: M }, (_, i) => `s${k}-${i}`))
      }
      // Every ack names a stored message.
      const acked = wsSenders.flatMap((s) => s.events.filter((e) => e.type === "ack").map((e) => e.payload.msg_id))
      const storedIds = new Set(ids(stored))
      for (const id of acked) expect(storedIds.has(id)).toBe(true)
      console.info(`[realtime ${backend.name}] ${K}x${M} messages to ${N} subscribers in ${elapsed} ms`)
      for (const socket of [...subscribers, ...wsSenders]) socket.close()
    })

    it("K senders x M messages with edits and deletes mixed in: one order equal to storage; after resume the same final state everywhere", async () => {
      const K = 3
      const M = 30
      const owner = await account(a.url, "own")
      const roomId = await createRoom(a.url, owner)
      const senders = await Promise.all(Array.from({ length: K }, () => account(a.url, "snd")))
      await Promise.all(senders.map((s) => join_(a.url, s.token, roomId)))
      const subscribers: Array<TestSocket> = []
      for (let i = 0; i < 4; i++) {
        const user = await account(a.url, "sub")
        const socket = await connect((i % 2 === 0 ? a : b).url, { token: user.token, roomId })
        await socket.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        subscribers.push(socket)
      }
      // One more subscriber drops out midway and resumes after what it saw.
      const leaver = await account(a.url, "lvr")
      const early = await connect(b.url, { token: leaver.token, roomId })
      await early.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")

      // Each sender pipelines its messages; on each message's ack it edits every third one and
      // deletes every fourth (after the edit when both), so changes interleave with messages.
      const sockets = await Promise.all(senders.map((s, k) => connect((k % 2 === 0 ? b : a).url, { token: s.token })))
      let changes = 0
      sockets.forEach((socket, k) => {
        socket.ws.on("message", (data) => {
          const event = JSON.parse(data.toString())
          if (event.type !== "ack" || event.payload.of !== "chat.message") return
          const i = Number(event.id.split("-")[1])
          const target = event.payload.msg_id
          if (i % 3 === 0) {
            socket.send({
              type: "chat.edit",
              id: `e${k}-${i}`,
              to: roomId,
              payload: { msg_id: target, text: `s${k}-${i}*` }
            })
          }
          if (i % 4 === 0)
            socket.send({ type: "chat.delete", id: `d${k}-${i}`, to: roomId, payload: { msg_id: target } })
        })
        for (let i = 0; i < M; i++) {
          if (i % 3 === 0) changes++
          if (i % 4 === 0) changes++
          socket.send({ type: "chat.message", id: `${k}-${i}`, to: roomId, payload: { text: `s${k}-${i}` } })
        }
      })
      const total = K * M + changes
      await early.next((e) => e.type === "chat.message" && e.payload.seq >= total / 3, 30_000)
      early.close()
      await early.closed
      const seen = early.messages(roomId)
      await eventually(() => {
        for (const socket of sockets) expect(socket.events.filter((e) => e.type === "ack").length).toBe(total / K)
      })
      for (const socket of sockets) expect(socket.events.filter((e) => e.type === "error")).toEqual([])
      const back = await connect(a.url, { token: leaver.token })
      back.send({ type: "channel.resume", id: "r", to: roomId, after: seen.at(-1).payload.msg_id })
      await back.next((e) => e.type === "ack" && e.id === "r", 30_000)
      await eventually(() => {
        for (const socket of subscribers) expect(socket.messages(roomId).length).toBe(total)
      })

      const stored = await history(a.url, owner.token, roomId)
      expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1))
      const resumed = [...seen, ...back.messages(roomId)]
      for (const events of [...subscribers.map((s) => s.messages(roomId)), resumed]) {
        expect(ids(events)).toEqual(ids(stored))
      }
      // Every screen folds the events it got into the same state history shows.
      const fold = (events: ReadonlyArray<any>) => {
        const state = new Map<string, string>()
        for (const { payload: m } of events) {
          if (m.kind === "message") state.set(m.msg_id, m.text)
          else if (m.kind === "edit") state.set(m.target_id, m.text)
          else state.set(m.target_id, "(deleted)")
        }
        return state
      }
      const current = new Map(
        stored.filter((m) => m.kind === "message").map((m) => [m.msg_id, m.deleted_by === null ? m.text : "(deleted)"])
      )
      expect([...current.values()].filter((t) => t === "(deleted)").length).toBe(K * Math.ceil(M / 4))
      for (const events of [...subscribers.map((s) => s.messages(roomId)), resumed])
        expect(fold(events)).toEqual(current)
      for (const socket of [...subscribers, ...sockets, back]) socket.close()
    })

    it("a subscriber that drops out while messages flow resumes with every message exactly once", async () => {
      const perPhase = 100
      const owner = await account(a.url, "own")
      const roomId = await createRoom(a.url, owner)
      const reader = await account(a.url, "rdr")
      const first = await connect(b.url, { token: reader.token, roomId })
      await first.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")

      const sender = await connect(a.url, { token: owner.token })
      let sent = 0
      /** Pipelines `count` messages and resolves once all of them are acknowledged. */
      const sendPhase = async (count: number) => {
        const last = sent + count - 1
        for (let n = 0; n < count; n++) {
          const i = sent++
          sender.send({ type: "chat.message", id: `m${i}`, to: roomId, payload: { text: `m${i}` } })
        }
        const answer = await sender.next((e) => (e.type === "ack" || e.type === "error") && e.id === `m${last}`, 30_000)
        expect(answer.type, JSON.stringify(answer)).toBe("ack")
      }
      // Phase 1 reaches the reader live; phase 2 is stored while it is away; phase 3 is sent
      // while its resume replays, so live and replayed messages meet at the seam.
      await sendPhase(perPhase)
      await first.next((e) => e.type === "chat.message" && e.payload.text === `m${perPhase - 1}`)
      first.close()
      await first.closed
      const seen = first.messages(roomId)
      await sendPhase(perPhase)

      const second = await connect(b.url, { token: reader.token })
      second.send({ type: "channel.resume", id: "r", to: roomId, after: seen[seen.length - 1].payload.msg_id })
      await sendPhase(perPhase)
      await second.next((e) => e.type === "chat.message" && e.payload.text === `m${3 * perPhase - 1}`, 30_000)
      const resumeAck = await second.next((e) => e.type === "ack" && e.id === "r")
      expect(resumeAck.payload.replayed).toBeGreaterThanOrEqual(perPhase)
      expect(sender.events.filter((e) => e.type === "error")).toEqual([])

      const stored = await history(a.url, owner.token, roomId)
      expect(stored.length).toBe(3 * perPhase)
      expect([...ids(seen), ...ids(second.messages(roomId))]).toEqual(ids(stored))
      sender.close()
      second.close()
    })

    if (options.twoNodes) {
      it("presence shows the users of both nodes, and typing crosses nodes", async () => {
        const owner = await account(a.url, "own")
        const roomId = await createRoom(a.url, owner)
        const other = await account(a.url, "oth")
        await joinRoom(a.url, roomId, other)
        const onA = await connect(a.url, { token: owner.token, roomId })
        await presenceIs(onA, roomId, [owner.id])
        const onB = await connect(b.url, { token: other.token, roomId })
        // B's list (read from Redis) has both; A hears of B's user through the broker.
        await presenceIs(onB, roomId, [owner.id, other.id])
        await presenceIs(onA, roomId, [owner.id, other.id])
        onB.send({ type: "typing.start", to: roomId })
        const typing = await onA.next((e) => e.type === "typing")
        expect(typing.payload).toEqual({
          room_id: roomId,
          started: [{ user_id: other.id, username: other.username }],
          stopped: []
        })
        const mark = onA.events.length
        onB.close()
        await presenceIs(onA, roomId, [owner.id], mark)
        onA.close()
      })
    }

    it("a member removed from a private room stops receiving it at once, on any node", async () => {
      const owner = await account(a.url, "own")
      const member = await account(a.url, "mem")
      const roomId = await createRoom(a.url, owner, "private")
      const added = await request(a.url, "PUT", `/api/chat/rooms/${roomId}/members/${member.id}`, {
        token: owner.token,
        body: {}
      })
      expect(added.status).toBe(200)
      const socket = await connect(b.url, { token: member.token, roomId })
      await socket.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")

      const removed = await request(a.url, "DELETE", `/api/chat/rooms/${roomId}/members/${member.id}`, {
        token: owner.token
      })
      expect(removed.status).toBe(204)
      // The periodic re-check runs every 60 s here: the notice must come long before it.
      const notice = await socket.next((e) => e.type === "error" && e.payload.room_id === roomId, 20_000)
      expect(notice.payload.code).toBe("forbidden")

      const post = await request(a.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
        token: owner.token,
        body: { content: "after the removal" }
      })
      expect(post.status).toBe(201)
      const watcher = await connect(a.url, { token: owner.token, roomId })
      await watcher.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
      // Anything still routed to the removed member would have arrived by the time this
      // second message reaches a current member.
      await request(a.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
        token: owner.token,
        body: { content: "marker" }
      })
      await watcher.next((e) => e.type === "chat.message" && e.payload.text === "marker")
      expect(socket.messages(roomId)).toEqual([])
      socket.close()
      watcher.close()
    })

    if (options.twoNodes) {
      it("a node whose Redis subscription drops catches up without waiting for the next message", async () => {
        const owner = await account(a.url, "own")
        const roomId = await createRoom(a.url, owner)
        const reader = await account(a.url, "rdr")
        const socket = await connect(b.url, { token: reader.token, roomId })
        await socket.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        const redis = new IORedis(a.env.REDIS_URL!)
        try {
          // Every node's subscriber connection is cut; the message below is published while
          // they reconnect, and nothing is sent after it.
          await redis.call("CLIENT", "KILL", "TYPE", "pubsub")
          const res = await request(a.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
            token: owner.token,
            body: { content: "during the reconnect" }
          })
          expect(res.status).toBe(201)
          const got = await socket.next((e) => e.type === "chat.message" && e.payload.room_id === roomId, 10_000)
          expect(got.payload.msg_id).toBe(res.body.msg_id)
        } finally {
          redis.disconnect()
          socket.close()
        }
      })
    }

    if (options.twoNodes) {
      it("users of a node that crashes drop out of presence on the others", async () => {
        const owner = await account(a.url, "own")
        const roomId = await createRoom(a.url, owner)
        const doomed = await account(a.url, "gone")
        const c = await anotherNode()
        const watcher = await connect(a.url, { token: owner.token, roomId })
        const victim = await connect(c.url, { token: doomed.token, roomId })
        await presenceIs(watcher, roomId, [owner.id, doomed.id])
        const mark = watcher.events.length
        await c.crash()
        rmSync(c.env.PARLEY_DATA_DIR!, { recursive: true, force: true })
        // No goodbye from the dead node: its connection expires, and node A's renewal sweeps it.
        const left = await watcher.next(
          (e) => e.type === "presence.diff" && watcher.events.indexOf(e) >= mark && e.payload.left.length > 0,
          20_000
        )
        expect(left.payload).toEqual({
          room_id: roomId,
          joined: [],
          left: [{ user_id: doomed.id, username: doomed.username }],
          count: 1
        })
        victim.close()
        watcher.close()
      })
    }

    it("acknowledges nothing that is not stored while storage is down, and recovers", async () => {
      const owner = await account(a.url, "own")
      const roomId = await createRoom(a.url, owner)
      const sender = await connect(a.url, { token: owner.token })
      const send = (i: number) =>
        sender.send({
          type: "chat.message",
          id: `o${i}`,
          to: roomId,
          payload: { text: `o${i}`, client_msg_id: `k${i}` }
        })

      let i = 0
      const before = Array.from({ length: 10 }, () => i++)
      for (const n of before) send(n)
      for (const n of before) expect((await sender.next((e) => e.id === `o${n}`)).type).toBe("ack")

      const restore = await backend.makeUnavailable(a)
      try {
        // The first write of the outage fails: over HTTP that is a 503 and nothing stored.
        const httpReply = await request(a.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
          token: owner.token,
          body: { content: "over http during the outage", client_msg_id: "http-1" }
        })
        expect(httpReply.status, JSON.stringify(httpReply.body)).toBe(503)
        expect(httpReply.body.error.code).toBe("service_unavailable")
        // Storage stays down until a WebSocket send has failed too, however long storage
        // takes to give up: the checks below then have failures to check.
        const firstFailure = sender.next((e) => e.type === "error", 60_000)
        for (let n = 0; n < 40; n++) send(i++)
        await firstFailure
      } finally {
        await restore()
      }
      const answered = () => sender.events.filter((e) => e.type === "ack" || e.type === "error")
      await eventually(() => expect(answered().length).toBe(i), 90_000)
      // Sends caught in a failed write get an error (the HTTP one above certainly did).
      const failed = sender.events.filter((e) => e.type === "error")
      expect(failed.length).toBeGreaterThan(0)
      for (const e of failed) expect(e.payload.code).toBe("service_unavailable")

      // Recovered: new sends are stored again, and retries of the failed ones are stored once.
      // A client retries a refused send with its client_msg_id; storage may still be refused
      // for a moment after it is back (a circuit breaker waiting to try again).
      const sendUntilAcked = async (n: number, label: string) => {
        for (let attempt = 0; ; attempt++) {
          const id = `${label}${n}-${attempt}`
          sender.send({ type: "chat.message", id, to: roomId, payload: { text: `o${n}`, client_msg_id: `k${n}` } })
          const answer = await sender.next((e) => (e.type === "ack" || e.type === "error") && e.id === id, 60_000)
          if (answer.type === "ack") return
          expect(answer.payload.code, JSON.stringify(answer)).toBe("service_unavailable")
          expect(attempt, `o${n} still refused after ${attempt} retries`).toBeLessThan(100)
          // Backing off as a client would, not waiting for anything in particular.
          await new Promise((r) => setTimeout(r, 100))
        }
      }
      for (const n of Array.from({ length: 5 }, () => i++)) await sendUntilAcked(n, "a")
      for (const e of failed) await sendUntilAcked(Number(e.id.slice(1)), "r")

      const stored = await history(a.url, owner.token, roomId)
      const storedIds = new Set(ids(stored))
      const acks = sender.events.filter((e) => e.type === "ack")
      for (const ack of acks) expect(storedIds.has(ack.payload.msg_id)).toBe(true)
      // Each client_msg_id is stored exactly once, whatever happened to its first attempt.
      const keys = stored.map((m) => m.client_msg_id)
      expect(new Set(keys).size).toBe(keys.length)
      expect(new Set(keys)).toEqual(new Set(Array.from({ length: i }, (_, n) => `k${n}`)))
      expect(stored.some((m) => m.text === "over http during the outage")).toBe(false)
      expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: stored.length }, (_, n) => n + 1))
      sender.close()
    })
  })
