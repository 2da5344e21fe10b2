/**
 * Direct rooms against a real server process (`POST /api/chat/direct`): one room per pair
 * whoever asks, named by the other user, private to its two fixed members, and ordinary
 * messaging over HTTP and WebSocket. Called once per backend by `direct-rooms-*.integration.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminAccount, adminCall, writeUser } from "./support/admin.ts"
import { type Reply, request } from "./support/http.ts"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"
import { type Account, account, connect } from "./support/ws.ts"

/**
 * Direct rooms one user may start per hour on the suite's server. Asks racing for a new room
 * each count (none knows yet that another will win), so it is at least each side's share of
 * the concurrent test's asks.
 */
const directRoomsPerHour = 5

const expectError = (res: Reply, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(res.body?.error?.code, JSON.stringify(res.body)).toBe(code)
}

export const directRoomsSuite = (backend: Backend) =>
  describe(`direct rooms (${backend.name})`, () => {
    let server: RunningServer
    const call = (method: string, path: string, who: Account, body?: unknown) =>
      request(server.url, method, path, { token: who.token, ...(body === undefined ? {} : { body }) })
    const user = () => account(server.url, "dm")
    const openDirect = (who: Account, username: string) => call("POST", "/api/chat/direct", who, { username })
    const opened = async (who: Account, peer: Account) => {
      const res = await openDirect(who, peer.username)
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      return res.body
    }
    const listed = async (who: Account, scope: "joined" | "public" = "joined") => {
      const res = await call("GET", `/api/chat/rooms?scope=${scope}&limit=100`, who)
      expect(res.status).toBe(200)
      return res.body.rooms as Array<any>
    }

    beforeAll(async () => {
      server = await startServer(backend, { RATE_DIRECT_ROOMS_PER_USER: String(directRoomsPerHour) })
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("both users get the same room, each seeing it named by the other, in their lists and nowhere public", async () => {
      const [alice, bob] = [await user(), await user()]
      const mine = await opened(alice, bob)
      expect(mine).toMatchObject({
        name: bob.username,
        kind: "direct",
        peer: { user_id: bob.id, username: bob.username },
        visibility: "private",
        role: "member",
        archived: false
      })
      const theirs = await opened(bob, alice)
      expect(theirs.room_id).toBe(mine.room_id)
      expect(theirs).toMatchObject({ name: alice.username, peer: { user_id: alice.id, username: alice.username } })
      // Again, and with the username in other letter case: still the same room.
      expect((await opened(alice, bob)).room_id).toBe(mine.room_id)
      expect((await openDirect(bob, alice.username.toUpperCase())).body.room_id).toBe(mine.room_id)

      for (const [who, peer] of [
        [alice, bob],
        [bob, alice]
      ] as const) {
        const rooms = (await listed(who)).filter((r) => r.kind === "direct")
        expect(rooms.map((r) => [r.room_id, r.name, r.peer.user_id])).toEqual([[mine.room_id, peer.username, peer.id]])
        const shown = await call("GET", `/api/chat/rooms/${mine.room_id}`, who)
        expect(shown.body).toMatchObject({ name: peer.username, kind: "direct", peer: { username: peer.username } })
        expect((await listed(who, "public")).some((r) => r.room_id === mine.room_id)).toBe(false)
      }
      const members = await call("GET", `/api/chat/rooms/${mine.room_id}/members`, alice)
      expect(members.body.members.map((m: any) => [m.user_id, m.role]).sort()).toEqual(
        [
          [alice.id, "member"],
          [bob.id, "member"]
        ].sort()
      )
      // Ordinary rooms say what they are too.
      const plain = await call("POST", "/api/chat/rooms", alice, { name: "plain" })
      expect(plain.body).toMatchObject({ kind: "room", peer: null, name: "plain" })
    })

    it("asked by both users at the same moment, many times over: one room", async () => {
      const [alice, bob] = [await user(), await user()]
      const answers = await Promise.all(
        Array.from({ length: 2 * directRoomsPerHour }, (_, i) =>
          i % 2 === 0 ? openDirect(alice, bob.username) : openDirect(bob, alice.username)
        )
      )
      for (const res of answers) expect(res.status, JSON.stringify(res.body)).toBe(200)
      expect(new Set(answers.map((res) => res.body.room_id)).size).toBe(1)
      expect((await listed(alice)).filter((r) => r.kind === "direct")).toHaveLength(1)
    })

    it("refuses oneself (400), and an unknown or disabled user alike (404)", async () => {
      const [alice, bob] = [await user(), await user()]
      expectError(await openDirect(alice, alice.username), 400, "invalid_request")
      expectError(await openDirect(alice, alice.username.toUpperCase()), 400, "invalid_request")
      const unknown = await openDirect(alice, `${bob.username}x`)
      expectError(unknown, 404, "not_found")
      await writeUser(backend, server, bob.id, { disabled: true })
      const disabled = await openDirect(alice, bob.username)
      expectError(disabled, 404, "not_found")
      expect(disabled.body).toEqual(unknown.body)
      expectError(await openDirect(alice, "a"), 400, "invalid_request")
      expect((await listed(alice)).filter((r) => r.kind === "direct")).toEqual([])
    })

    it("a third user gets 404 on every path into it, and nobody can add, remove, promote or leave", async () => {
      const [alice, bob, carol] = [await user(), await user(), await user()]
      const room = (await opened(alice, bob)).room_id
      const path = `/api/chat/rooms/${room}`
      expectError(await call("GET", path, carol), 404, "not_found")
      expectError(await call("GET", `${path}/messages`, carol), 404, "not_found")
      expectError(await call("GET", `${path}/members`, carol), 404, "not_found")
      expectError(await call("POST", `${path}/join`, carol), 404, "not_found")
      expectError(await call("POST", `${path}/messages`, carol, { content: "hi" }), 404, "not_found")
      expect((await listed(carol)).some((r) => r.room_id === room)).toBe(false)

      expectError(await call("PUT", `${path}/members/${carol.id}`, alice, {}), 403, "forbidden")
      expectError(await call("PUT", `${path}/members/${bob.id}`, alice, { role: "admin" }), 403, "forbidden")
      expectError(await call("DELETE", `${path}/members/${bob.id}`, alice), 403, "forbidden")
      expectError(await call("DELETE", `${path}/members/${alice.id}`, alice), 403, "forbidden")
      expectError(await call("POST", `${path}/leave`, bob), 403, "forbidden")
      const members = await call("GET", `${path}/members`, bob)
      expect(members.body.members.map((m: any) => m.user_id).sort()).toEqual([alice.id, bob.id].sort())
    })

    it("messaging is ordinary room messaging, over HTTP and WebSocket", async () => {
      const [alice, bob] = [await user(), await user()]
      const room = (await opened(alice, bob)).room_id
      const socket = await connect(server.url, { token: alice.token })
      try {
        socket.send({ type: "channel.subscribe", id: "s", to: room })
        await socket.next((e) => e.type === "ack" && e.id === "s")
        const posted = await call("POST", `/api/chat/rooms/${room}/messages`, bob, { content: "over http" })
        expect(posted.status, JSON.stringify(posted.body)).toBe(201)
        const live = await socket.next((e) => e.type === "chat.message" && e.payload.room_id === room)
        expect(live.payload).toMatchObject({ text: "over http", user_id: bob.id, seq: 1 })

        socket.send({ type: "chat.message", id: "m", to: room, payload: { text: "over ws" } })
        const ack = await socket.next((e) => e.id === "m")
        expect(ack, JSON.stringify(ack)).toMatchObject({ type: "ack", payload: { seq: 2 } })
        const history = await call("GET", `/api/chat/rooms/${room}/messages`, bob)
        expect(history.body.messages.map((m: any) => [m.seq, m.text, m.user_id])).toEqual([
          [2, "over ws", alice.id],
          [1, "over http", bob.id]
        ])
      } finally {
        socket.close()
      }
    })

    it(`making new ones is rate limited (${directRoomsPerHour} per hour here), opening one is not`, async () => {
      const starter = await user()
      const peers = await Promise.all(Array.from({ length: directRoomsPerHour + 1 }, () => user()))
      for (const peer of peers.slice(0, directRoomsPerHour)) await opened(starter, peer)
      const refused = await openDirect(starter, peers[directRoomsPerHour]!.username)
      expectError(refused, 429, "rate_limited")
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0)
      // Opening the ones that exist costs nothing, and the other side may still open theirs.
      for (const peer of peers.slice(0, directRoomsPerHour)) await opened(starter, peer)
      expect((await opened(peers[directRoomsPerHour]!, starter)).peer.username).toBe(starter.username)
    })

    it("operators see direct rooms marked as such", async () => {
      const admin = await adminAccount(backend, server, "dmadm")
      const [alice, bob] = [await user(), await user()]
      const room = (await opened(alice, bob)).room_id
      const shown = await adminCall(server, admin, "GET", `/api/admin/rooms/${room}`)
      expect(shown.body).toMatchObject({ room_id: room, kind: "direct", visibility: "private" })
      expect(shown.body.name).toContain(alice.username)
      expect(shown.body.name).toContain(bob.username)
    })
  })
