/**
 * Bounded per-connection and per-user state, and posting rights that follow membership, on
 * real servers: a connection's subscriptions are capped, a user's connections are capped
 * (per node), subscribe/unsubscribe are rate limited per connection, each with a clear error;
 * and a member removed from a room can no longer post over any of their sockets, subscribed
 * to the room or not, on this node or another. `/metrics` shows sockets, subscriptions,
 * outbound buffered bytes and the send→deliver latency.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually, request } from "./support/http.ts"
import { type Backend, type RunningServer, startAnotherNode, startServer } from "./support/server.ts"
import { type Account, account, connect, createRoom, joinRoom, type TestSocket } from "./support/ws.ts"
import { call } from "./ws.suite.ts"

const limits = {
  WS_MAX_SUBSCRIPTIONS: "3",
  WS_MAX_CONNECTIONS_PER_USER: "3",
  WS_SUBSCRIBE_RATE: "8",
  WS_SUBSCRIBE_WINDOW: "10 minutes",
  // Remembered "may post here" answers outlive every test: only the news of a removal clears them.
  WS_POST_CHECK_TTL: "10 minutes",
  RATE_MESSAGES_PER_USER: "100000"
}

export const wsLimitsSuite = (backend: Backend, options: { readonly twoNodes: boolean }) =>
  describe(`WebSocket limits and membership (${backend.name})`, () => {
    let a: RunningServer
    let b: RunningServer
    const sockets: Array<TestSocket> = []
    const open = async (server: RunningServer, who: Account) => {
      const sock = await connect(server.url, { token: who.token })
      sockets.push(sock)
      return sock
    }

    beforeAll(async () => {
      a = await startServer(backend, limits)
      b = options.twoNodes ? await startAnotherNode(backend, a, limits) : a
    })
    afterAll(async () => {
      for (const sock of sockets) sock.ws.terminate()
      if (b !== a) await b?.stop()
      await a?.stop()
    })

    const send = (sock: TestSocket, roomId: string, text: string) =>
      call(sock, { type: "chat.message", to: roomId, payload: { text } })

    it("refuses a subscription beyond the cap with limit_reached; unsubscribing makes room", async () => {
      const who = await account(a.url)
      const rooms = [await createRoom(a.url, who), await createRoom(a.url, who), await createRoom(a.url, who)]
      const extra = await createRoom(a.url, who)
      const sock = await open(a, who)
      for (const roomId of rooms) expect((await call(sock, { type: "channel.subscribe", to: roomId })).type).toBe("ack")
      const refused = await call(sock, { type: "channel.subscribe", to: extra })
      expect(refused.type).toBe("error")
      expect(refused.payload.code).toBe("limit_reached")
      expect(refused.payload.message).toMatch(/3 subscriptions/)
      // Subscribing again to a room it has is no new subscription.
      expect((await call(sock, { type: "channel.subscribe", to: rooms[0] })).type).toBe("ack")
      expect((await call(sock, { type: "channel.unsubscribe", to: rooms[0] })).type).toBe("ack")
      expect((await call(sock, { type: "channel.subscribe", to: extra })).type).toBe("ack")
    })

    it("refuses subscribe/unsubscribe beyond the rate with rate_limited, per connection", async () => {
      const who = await account(a.url)
      const roomId = await createRoom(a.url, who)
      const sock = await open(a, who)
      const answers: Array<string> = []
      for (let i = 0; i < 10; i++) {
        const type = i % 2 === 0 ? "channel.subscribe" : "channel.unsubscribe"
        const answer = await call(sock, { type, to: roomId })
        answers.push(answer.type === "ack" ? "ack" : answer.payload.code)
      }
      expect(answers).toEqual([...Array(8).fill("ack"), "rate_limited", "rate_limited"])
      // Another connection of the same user has its own allowance.
      const other = await open(a, who)
      expect((await call(other, { type: "channel.subscribe", to: roomId })).type).toBe("ack")
    })

    it("refuses a user's connection beyond the cap (per node) with 429 limit_reached; closing one makes room", async () => {
      const who = await account(a.url)
      const first = await open(a, who)
      await open(a, who)
      await open(a, who)
      const refused = await connect(a.url, { token: who.token }).then(
        () => null,
        (error) => error
      )
      expect(refused?.status).toBe(429)
      expect(JSON.parse(refused.body).error.code).toBe("limit_reached")
      first.close()
      await first.closed
      await eventually(async () => {
        await open(a, who)
      }, 10_000)
      if (options.twoNodes) {
        // The cap counts this node's sockets: another node still lets the user in.
        await open(b, who)
      }
    })

    it("a removed member can no longer post over any of their sockets, subscribed or not, on any node", async () => {
      const owner = await account(a.url)
      const member = await account(a.url)
      const roomId = await createRoom(a.url, owner)
      await joinRoom(a.url, roomId, member)
      // Two sockets that post without subscribing, one on each node, and one that subscribes.
      const here = await open(a, member)
      const there = await open(b, member)
      const subscribed = await open(b, member)
      expect((await call(subscribed, { type: "channel.subscribe", to: roomId })).type).toBe("ack")
      for (const sock of [here, there, subscribed]) expect((await send(sock, roomId, "hello")).type).toBe("ack")

      const removed = await request(a.url, "DELETE", `/api/chat/rooms/${roomId}/members/${member.id}`, {
        token: owner.token
      })
      expect(removed.status).toBe(204)
      // The node that removed them knows at once.
      const refusedHere = await send(here, roomId, "still here?")
      expect(refusedHere.type).toBe("error")
      expect(refusedHere.payload.code).toBe("forbidden")
      // Another node hears it through Redis, a moment later.
      for (const sock of [there, subscribed]) {
        await eventually(async () => {
          const answer = await send(sock, roomId, "still there?")
          expect(answer.type).toBe("error")
          expect(answer.payload.code).toBe("forbidden")
        }, 20_000)
      }
    })

    /** A sample's value from Prometheus text (`name` with its labels, or bare); 0 before its first update. */
    const metric = async (server: RunningServer, name: string) => {
      const text = await (await fetch(server.metricsUrl)).text()
      const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1))
    }

    it("/metrics shows sockets, subscriptions, outbound bytes and the send-to-deliver latency", async () => {
      const who = await account(a.url)
      const roomId = await createRoom(a.url, who)
      const sockets = await metric(a, "parley_ws_connections")
      const subscriptions = await metric(a, "parley_ws_subscriptions")
      const delivered = await metric(a, "parley_delivery_latency_seconds_count")
      const reader = await open(a, who)
      const sender = await open(a, who)
      expect(await metric(a, "parley_ws_connections")).toBe(sockets + 2)
      expect((await call(reader, { type: "channel.subscribe", to: roomId })).type).toBe("ack")
      expect(await metric(a, "parley_ws_subscriptions")).toBe(subscriptions + 1)
      const sent = await send(sender, roomId, "measured")
      await reader.next((e) => e.type === "chat.message" && e.payload.msg_id === sent.payload.msg_id)
      expect(await metric(a, "parley_delivery_latency_seconds_count")).toBe(delivered + 1)
      // Sampled every second: it exists, and nothing is stuck in these sockets' buffers.
      await eventually(async () => {
        const text = await (await fetch(a.metricsUrl)).text()
        expect(text).toMatch(/^parley_ws_outbound_buffered_bytes 0$/m)
      }, 10_000)
      reader.close()
      await reader.closed
      await eventually(async () => {
        expect(await metric(a, "parley_ws_connections")).toBe(sockets + 1)
        expect(await metric(a, "parley_ws_subscriptions")).toBe(subscriptions)
      }, 10_000)
    })
  })
