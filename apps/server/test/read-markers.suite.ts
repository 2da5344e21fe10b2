/**
 * Read markers and unread counts (issue 12 §2) against real servers: a marker only moves
 * forward (and is clamped to the room's head), the room list carries each room's unread count,
 * marker and last message, and a move reaches the user's other sockets live, whichever node
 * they are on (two nodes on Cassandra + Redis: the second session sits on node B), but not the
 * socket that moved it, which has its ack.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request } from "./support/http.ts"
import { type Backend, type RunningServer, startAnotherNode, startServer } from "./support/server.ts"
import { type Account, account, connect, createRoom, joinRoom, login, type TestSocket } from "./support/ws.ts"

/** Low enough to reach in a test, above what any other case here spends for one user. */
const marksPerMinute = 10

export const readMarkersSuite = (backend: Backend, options: { readonly twoNodes: boolean }) =>
  describe(`read markers and unread counts (${backend.name}${options.twoNodes ? ", two nodes" : ""})`, () => {
    let a: RunningServer
    let b: RunningServer
    const sockets: Array<TestSocket> = []

    beforeAll(async () => {
      a = await startServer(backend, {
        RATE_MESSAGES_PER_USER: "100000",
        RATE_READ_MARKS_PER_USER: String(marksPerMinute)
      })
      b = options.twoNodes ? await startAnotherNode(backend, a) : a
    })
    afterAll(async () => {
      for (const sock of sockets) sock.ws.terminate()
      if (b !== a) await b?.stop()
      await a?.stop()
    })

    const open = async (server: RunningServer, token: string) => {
      const sock = await connect(server.url, { token })
      sockets.push(sock)
      return sock
    }
    const post = async (roomId: string, who: Account, count: number) => {
      let last: any
      for (let i = 0; i < count; i++) {
        const res = await request(a.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
          token: who.token,
          body: { content: `message ${i}` }
        })
        expect(res.status, JSON.stringify(res.body)).toBe(201)
        last = res.body
      }
      return last
    }
    const mark = (server: RunningServer, roomId: string, who: { readonly token: string }, seq: unknown) =>
      request(server.url, "PUT", `/api/chat/rooms/${roomId}/read`, { token: who.token, body: { seq } })
    const listed = async (server: RunningServer, who: { readonly token: string }, roomId: string, scope = "joined") => {
      const res = await request(server.url, "GET", `/api/chat/rooms?scope=${scope}&limit=100`, { token: who.token })
      expect(res.status).toBe(200)
      return res.body.rooms.find((r: any) => r.room_id === roomId)
    }

    it("the room list has each room's unread count, marker and last message; the directory shows 0 / 0", async () => {
      const owner = await account(a.url, "rmown")
      const reader = await account(a.url, "rmread")
      const roomId = await createRoom(a.url, owner)
      await joinRoom(a.url, roomId, reader)
      expect(await listed(b, reader, roomId)).toMatchObject({ unread: 0, read_seq: 0, last_message: null })

      const last = await post(roomId, owner, 5)
      expect(await listed(b, reader, roomId)).toMatchObject({ unread: 5, read_seq: 0, last_message: last })
      expect(last.seq).toBe(5)
      // GET of one room says the same.
      const one = await request(b.url, "GET", `/api/chat/rooms/${roomId}`, { token: reader.token })
      expect(one.body).toMatchObject({ unread: 5, read_seq: 0, last_message: last })

      // The public directory shows what is said in a room, not what the caller has read.
      const outsider = await account(a.url, "rmout")
      expect(await listed(b, outsider, roomId, "public")).toMatchObject({ unread: 0, read_seq: 0, last_message: last })
      // Joining answers with everything unread: a new member has read nothing yet.
      const joined = await request(b.url, "POST", `/api/chat/rooms/${roomId}/join`, { token: outsider.token })
      expect(joined.body).toMatchObject({ role: "member", unread: 5, read_seq: 0, last_message: last })
    })

    it("the last message is the newest message in its current state, past any run of edits and deletes", async () => {
      const owner = await account(a.url, "rmown")
      const reader = await account(a.url, "rmread")
      const roomId = await createRoom(a.url, owner)
      await joinRoom(a.url, roomId, reader)
      const first = await post(roomId, owner, 1)
      const second = await post(roomId, owner, 1)
      // Six edits of the older message: more than the first look at the newest entries.
      for (let i = 1; i <= 6; i++) {
        const edit = await request(a.url, "PATCH", `/api/chat/rooms/${roomId}/messages/${first.msg_id}`, {
          token: owner.token,
          body: { text: `edited ${i}` }
        })
        expect(edit.status, JSON.stringify(edit.body)).toBe(200)
      }
      // Edits and deletes are entries of the stream: they count as unread activity.
      expect(await listed(b, reader, roomId)).toMatchObject({
        unread: 8,
        last_message: { msg_id: second.msg_id, kind: "message", text: second.text }
      })
      const removed = await request(a.url, "DELETE", `/api/chat/rooms/${roomId}/messages/${second.msg_id}`, {
        token: owner.token
      })
      expect(removed.status, JSON.stringify(removed.body)).toBe(200)
      // The newest message is now a tombstone: shown as it is, deleted, with no text.
      expect(await listed(b, reader, roomId)).toMatchObject({
        unread: 9,
        last_message: { msg_id: second.msg_id, kind: "message", text: "", deleted_by: owner.id }
      })
      expect((await mark(a, roomId, reader, 9)).body).toEqual({ room_id: roomId, seq: 9, unread: 0 })
    })

    it("a marker only moves forward, is clamped to the head, and the unread count follows it", async () => {
      const owner = await account(a.url, "rmown")
      const reader = await account(a.url, "rmread")
      const roomId = await createRoom(a.url, owner)
      await joinRoom(a.url, roomId, reader)
      await post(roomId, owner, 6)

      expect((await mark(a, roomId, reader, 4)).body).toEqual({ room_id: roomId, seq: 4, unread: 2 })
      // Lower or equal: ignored, and the answer says where the marker is.
      expect((await mark(b, roomId, reader, 2)).body).toEqual({ room_id: roomId, seq: 4, unread: 2 })
      expect((await mark(a, roomId, reader, 4)).body).toEqual({ room_id: roomId, seq: 4, unread: 2 })
      expect(await listed(b, reader, roomId)).toMatchObject({ unread: 2, read_seq: 4 })
      // Above the head: the head.
      expect((await mark(b, roomId, reader, 1_000_000)).body).toEqual({ room_id: roomId, seq: 6, unread: 0 })
      expect(await listed(a, reader, roomId)).toMatchObject({ unread: 0, read_seq: 6 })
      // New messages are unread again; the owner's marker is their own.
      await post(roomId, owner, 3)
      expect(await listed(b, reader, roomId)).toMatchObject({ unread: 3, read_seq: 6 })
      expect(await listed(b, owner, roomId)).toMatchObject({ unread: 9, read_seq: 0 })
    })

    it("refuses a bad seq (400), a public room not joined (403 not_member), a private room one cannot see (404)", async () => {
      const owner = await account(a.url, "rmown")
      const outsider = await account(a.url, "rmout")
      const publicRoom = await createRoom(a.url, owner)
      const privateRoom = await createRoom(a.url, owner, "private")
      for (const seq of [-1, 1.5, "3", null]) {
        const res = await mark(a, publicRoom, owner, seq)
        expect(res.status, JSON.stringify(seq)).toBe(400)
        expect(res.body.error.code).toBe("invalid_request")
      }
      const notJoined = await mark(a, publicRoom, outsider, 1)
      expect(notJoined.status).toBe(403)
      expect(notJoined.body.error.code).toBe("not_member")
      const hidden = await mark(a, privateRoom, outsider, 1)
      expect(hidden.status).toBe(404)
      expect(hidden.body.error.code).toBe("not_found")
      // Nothing was stored for them: the room is still not in their list.
      expect(await listed(a, outsider, publicRoom)).toBeUndefined()

      const sock = await open(a, outsider.token)
      sock.send({ type: "read.mark", id: "nm", to: publicRoom, payload: { seq: 1 } })
      expect((await sock.next((e) => e.id === "nm")).payload.code).toBe("not_member")
      sock.send({ type: "read.mark", id: "hid", to: privateRoom, payload: { seq: 1 } })
      expect((await sock.next((e) => e.id === "hid")).payload.code).toBe("forbidden")
      sock.send({ type: "read.mark", id: "bad", to: publicRoom, payload: { seq: -2 } })
      expect((await sock.next((e) => e.id === "bad")).payload.code).toBe("invalid_event")
    })

    it("more than RATE_READ_MARKS_PER_USER moves a minute, over HTTP and WebSocket together: 429 / rate_limited", async () => {
      const owner = await account(a.url, "rmown")
      const reader = await account(a.url, "rmread")
      const roomId = await createRoom(a.url, owner)
      await joinRoom(a.url, roomId, reader)
      await post(roomId, owner, 1)
      const sock = await open(b, reader.token)
      for (let i = 0; i < marksPerMinute; i++) {
        if (i % 2 === 0) expect((await mark(i % 4 === 0 ? a : b, roomId, reader, 1)).status).toBe(200)
        else {
          sock.send({ type: "read.mark", id: `ok${i}`, to: roomId, payload: { seq: 1 } })
          expect((await sock.next((e) => e.id === `ok${i}`)).type).toBe("ack")
        }
      }
      const refused = await mark(a, roomId, reader, 1)
      expect(refused.status).toBe(429)
      expect(refused.body.error.code).toBe("rate_limited")
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0)
      sock.send({ type: "read.mark", id: "over", to: roomId, payload: { seq: 1 } })
      expect((await sock.next((e) => e.id === "over")).payload).toMatchObject({ code: "rate_limited" })
      // Another user is not held back.
      expect((await mark(b, roomId, owner, 1)).status).toBe(200)
    })

    it(`a move over the WebSocket reaches the user's other session live${options.twoNodes ? " on the other node" : ""}, not the mover`, async () => {
      const owner = await account(a.url, "rmown")
      const reader = await account(a.url, "rmread")
      const laptop = reader
      const phone = await login(a.url, reader.username)
      const roomId = await createRoom(a.url, owner)
      await joinRoom(a.url, roomId, reader)
      await post(roomId, owner, 7)
      const onLaptop = await open(a, laptop.token)
      const onPhone = await open(b, phone.token)
      // Someone else's socket hears nothing of it.
      const ownerSock = await open(b, owner.token)

      // The phone reads up to 5: its ack carries the marker; the laptop's list drops live.
      onPhone.send({ type: "read.mark", id: "m1", to: roomId, payload: { seq: 5 } })
      const ack = await onPhone.next((e) => e.id === "m1")
      expect(ack).toEqual({ type: "ack", id: "m1", payload: { of: "read.mark", room_id: roomId, seq: 5, unread: 2 } })
      const heard = await onLaptop.next((e) => e.type === "read.marker")
      expect(heard).toEqual({ type: "read.marker", payload: { room_id: roomId, seq: 5, unread: 2 } })
      // The mover had its ack (the local delivery comes before it) and no event.
      expect(onPhone.events.filter((e) => e.type === "read.marker")).toEqual([])

      // Over HTTP (no socket moved it): every socket of the user hears it, from either node.
      expect((await mark(a, roomId, reader, 7)).body).toEqual({ room_id: roomId, seq: 7, unread: 0 })
      for (const sock of [onLaptop, onPhone]) {
        const moved = await sock.next((e) => e.type === "read.marker" && e.payload.seq === 7)
        expect(moved.payload).toEqual({ room_id: roomId, seq: 7, unread: 0 })
      }
      expect(await listed(b, phone, roomId)).toMatchObject({ unread: 0, read_seq: 7 })

      // A move backwards, or to where the marker is, moves nothing and tells no one.
      onLaptop.send({ type: "read.mark", id: "back", to: roomId, payload: { seq: 3 } })
      expect((await onLaptop.next((e) => e.id === "back")).payload).toMatchObject({ seq: 7, unread: 0 })
      expect((await mark(b, roomId, reader, 7)).body).toEqual({ room_id: roomId, seq: 7, unread: 0 })
      // A later move from the same node is the barrier: one node's news reaches the others in order.
      await post(roomId, owner, 1)
      expect((await mark(a, roomId, reader, 8)).body).toEqual({ room_id: roomId, seq: 8, unread: 0 })
      await onPhone.next((e) => e.type === "read.marker" && e.payload.seq === 8)
      expect(onPhone.events.filter((e) => e.type === "read.marker").map((e) => e.payload.seq)).toEqual([7, 8])
      expect(ownerSock.events.filter((e) => e.type === "read.marker")).toEqual([])
    })
  })
