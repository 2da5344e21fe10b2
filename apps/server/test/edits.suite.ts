/**
 * Message edits and deletes against a real server (issue 12 §1), over HTTP and WebSocket:
 * events of the room's stream with their own `seq`, delivered live and replayed in order,
 * history showing each message's current state, and who may do what. Called once per
 * backend by `edits-*.integration.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminAccount, adminCall } from "./support/admin.ts"
import { type Reply, request } from "./support/http.ts"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"
import { type Account, account, connect, createRoom, joinRoom, postMessage } from "./support/ws.ts"

interface View {
  readonly room_id: string
  readonly msg_id: string
  readonly seq: number
  readonly kind: "message" | "edit" | "delete"
  readonly target_id: string | null
  readonly user_id: string
  readonly text: string
  readonly client_msg_id: string | null
  readonly created_at: string
  readonly edited_at: string | null
  readonly deleted_by: string | null
}

const expectError = (res: Reply, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(res.body?.error?.code, JSON.stringify(res.body)).toBe(code)
}

export const editsSuite = (backend: Backend) =>
  describe(`message edits and deletes (${backend.name})`, () => {
    let server: RunningServer

    const post = (who: Account, roomId: string, content: string) => postMessage<View>(server.url, who, roomId, content)
    const edit = (who: Account, roomId: string, msgId: string, text: string, clientMsgId?: string) =>
      request<View>(server.url, "PATCH", `/api/chat/rooms/${roomId}/messages/${msgId}`, {
        token: who.token,
        body: clientMsgId === undefined ? { text } : { text, client_msg_id: clientMsgId }
      })
    const remove = (who: Account, roomId: string, msgId: string, clientMsgId?: string) =>
      request<View>(
        server.url,
        "DELETE",
        `/api/chat/rooms/${roomId}/messages/${msgId}${clientMsgId === undefined ? "" : `?client_msg_id=${clientMsgId}`}`,
        { token: who.token }
      )
    const history = async (who: Account, roomId: string) => {
      const res = await request(server.url, "GET", `/api/chat/rooms/${roomId}/messages?limit=100`, {
        token: who.token
      })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      return (res.body.messages as Array<View>).toReversed()
    }

    beforeAll(async () => {
      server = await startServer(backend)
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("an edit and a delete over HTTP are events with their own seq; history shows current state and the events", async () => {
      const [ada, bob] = [await account(server.url, "ea"), await account(server.url, "eb")]
      const room = await createRoom(server.url, ada)
      await joinRoom(server.url, room, bob)
      const first = await post(ada, room, "helo")
      const second = await post(bob, room, "bye")

      const edited = await edit(ada, room, first.msg_id, "hello", "e-1")
      expect(edited.status, JSON.stringify(edited.body)).toBe(200)
      expect(edited.body).toMatchObject({
        seq: 3,
        kind: "edit",
        target_id: first.msg_id,
        user_id: ada.id,
        text: "hello",
        client_msg_id: "e-1",
        edited_at: null,
        deleted_by: null
      })
      const deleted = await remove(bob, room, second.msg_id)
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(200)
      expect(deleted.body).toMatchObject({
        seq: 4,
        kind: "delete",
        target_id: second.msg_id,
        user_id: bob.id,
        text: ""
      })

      const page = await history(bob, room)
      expect(page.map((m) => [m.seq, m.kind, m.text])).toEqual([
        [1, "message", "hello"],
        [2, "message", ""],
        [3, "edit", "hello"],
        [4, "delete", ""]
      ])
      expect(page[0]).toMatchObject({ edited_at: edited.body.created_at, deleted_by: null })
      expect(page[1]).toMatchObject({ edited_at: null, deleted_by: bob.id })
    })

    it("a retry with the same client_msg_id answers the original event and stores nothing", async () => {
      const ada = await account(server.url, "er")
      const room = await createRoom(server.url, ada)
      const m = await post(ada, room, "one")
      const first = await edit(ada, room, m.msg_id, "two", "same")
      const again = await edit(ada, room, m.msg_id, "three", "same")
      expect(again.status).toBe(200)
      expect(again.body).toEqual(first.body)
      const del = await remove(ada, room, m.msg_id, "gone")
      const delAgain = await remove(ada, room, m.msg_id, "gone")
      expect(delAgain.status, JSON.stringify(delAgain.body)).toBe(200)
      expect(delAgain.body).toEqual(del.body)
      expect((await history(ada, room)).map((e) => e.seq)).toEqual([1, 2, 3])
    })

    it("who may: the author edits; the author, the room's owner or admin, or a site admin deletes", async () => {
      const owner = await account(server.url, "eo")
      const author = await account(server.url, "ew")
      const other = await account(server.url, "ex")
      const roomAdmin = await account(server.url, "ey")
      const siteAdmin = await adminAccount(backend, server, "ez")
      const room = await createRoom(server.url, owner)
      for (const who of [author, other, roomAdmin]) await joinRoom(server.url, room, who)
      const promoted = await request(server.url, "PUT", `/api/chat/rooms/${room}/members/${roomAdmin.id}`, {
        token: owner.token,
        body: { role: "admin" }
      })
      expect(promoted.status, JSON.stringify(promoted.body)).toBe(200)
      const ms: Array<View> = []
      for (let i = 0; i < 5; i++) ms.push(await post(author, room, "mine"))

      expectError(await edit(other, room, ms[0]!.msg_id, "not yours"), 403, "forbidden")
      expectError(await edit(owner, room, ms[0]!.msg_id, "not yours either"), 403, "forbidden")
      expectError(await remove(other, room, ms[0]!.msg_id), 403, "forbidden")
      // A stranger to a private room sees nothing; to a public one, they must join first.
      expectError(await edit(await account(server.url, "es"), room, ms[0]!.msg_id, "x"), 403, "forbidden")

      expect((await edit(author, room, ms[0]!.msg_id, "edited")).status).toBe(200)
      expect((await remove(author, room, ms[1]!.msg_id)).status).toBe(200)
      expect((await remove(owner, room, ms[2]!.msg_id)).status).toBe(200)
      expect((await remove(roomAdmin, room, ms[3]!.msg_id)).status).toBe(200)
      expect((await remove(siteAdmin, room, ms[4]!.msg_id)).status).toBe(200)
      const page = await history(owner, room)
      expect(page.slice(0, 5).map((m) => [m.text, m.deleted_by])).toEqual([
        ["edited", null],
        ["", author.id],
        ["", owner.id],
        ["", roomAdmin.id],
        ["", siteAdmin.id]
      ])
    })

    it("refuses a deleted message, a non-message, an unknown id, another room's message, and an archived room", async () => {
      const ada = await account(server.url, "ef")
      const room = await createRoom(server.url, ada)
      const elsewhere = await createRoom(server.url, ada)
      const [m, other] = [await post(ada, room, "x"), await post(ada, elsewhere, "y")]
      const e = await edit(ada, room, m.msg_id, "x2")
      expectError(await edit(ada, room, e.body.msg_id, "edit an edit"), 404, "not_found")
      expectError(await remove(ada, room, e.body.msg_id), 404, "not_found")
      expectError(await edit(ada, room, other.msg_id, "wrong room"), 404, "not_found")
      expectError(await edit(ada, room, "7d0c9e80-0000-1000-8000-000000000001", "nothing"), 404, "not_found")
      expect((await remove(ada, room, m.msg_id)).status).toBe(200)
      expectError(await edit(ada, room, m.msg_id, "too late"), 404, "not_found")
      expectError(await remove(ada, room, m.msg_id), 404, "not_found")
      expectError(await edit(ada, room, m.msg_id, ""), 400, "invalid_request")

      const admin = await adminAccount(backend, server, "eg")
      const keep = await post(ada, elsewhere, "kept")
      const archived = await adminCall(server, admin, "POST", `/api/admin/rooms/${elsewhere}/archive`)
      expect(archived.status, JSON.stringify(archived.body)).toBe(200)
      expectError(await edit(ada, elsewhere, keep.msg_id, "archived"), 403, "forbidden")
      expectError(await remove(ada, elsewhere, keep.msg_id), 403, "forbidden")
      expect((await history(ada, elsewhere)).map((v) => v.text)).toEqual(["y", "kept"])
      // Nothing refused took a seq.
      expect((await history(ada, room)).map((v) => v.seq)).toEqual([1, 2, 3])
    })

    it("over WebSocket: a site admin demoted while connected deletes no more, at once", async () => {
      const [owner, author] = [await account(server.url, "eq"), await account(server.url, "er")]
      const [admin, other] = [await adminAccount(backend, server, "et"), await adminAccount(backend, server, "eu")]
      const room = await createRoom(server.url, owner)
      await joinRoom(server.url, room, author)
      const [first, second] = [await post(author, room, "one"), await post(author, room, "two")]
      const socket = await connect(server.url, { token: admin.token })
      try {
        socket.send({ type: "chat.delete", id: "d1", to: room, payload: { msg_id: first.msg_id } })
        expect((await socket.next((e) => e.id === "d1")).type).toBe("ack")
        const demoted = await adminCall(server, other, "PUT", `/api/admin/users/${admin.id}/role`, {
          body: { role: "user" }
        })
        expect(demoted.status, JSON.stringify(demoted.body)).toBe(200)
        socket.send({ type: "chat.delete", id: "d2", to: room, payload: { msg_id: second.msg_id } })
        const refused = await socket.next((e) => e.id === "d2")
        expect([refused.type, refused.payload.code]).toEqual(["error", "forbidden"])
        const messages = (await history(owner, room)).filter((m) => m.kind === "message")
        expect(messages.map((m) => [m.text, m.deleted_by])).toEqual([
          ["", admin.id],
          ["two", null]
        ])
      } finally {
        socket.close()
      }
    })

    it("over WebSocket: chat.edit and chat.delete are acked with their seq; subscribers get them live, resume replays them", async () => {
      const [ada, bob] = [await account(server.url, "ew"), await account(server.url, "ev")]
      const room = await createRoom(server.url, ada)
      await joinRoom(server.url, room, bob)
      const [a, b] = [await connect(server.url, { token: ada.token }), await connect(server.url, { token: bob.token })]
      try {
        for (const s of [a, b]) {
          s.send({ type: "channel.subscribe", id: "sub", to: room })
          await s.next((e) => e.type === "ack" && e.id === "sub")
        }
        a.send({ type: "chat.message", id: "m", to: room, payload: { text: "first" } })
        const sent = await a.next((e) => e.type === "ack" && e.id === "m")
        a.send({ type: "chat.edit", id: "e", to: room, payload: { msg_id: sent.payload.msg_id, text: "first!" } })
        const acked = await a.next((e) => e.type === "ack" && e.id === "e")
        expect(acked.payload).toMatchObject({ of: "chat.edit", room_id: room, seq: 2 })
        b.send({ type: "chat.edit", id: "x", to: room, payload: { msg_id: sent.payload.msg_id, text: "mine now" } })
        expect((await b.next((e) => e.type === "error" && e.id === "x")).payload.code).toBe("forbidden")
        a.send({
          type: "chat.delete",
          id: "d",
          to: room,
          payload: { msg_id: sent.payload.msg_id, client_msg_id: "d-1" }
        })
        expect((await a.next((e) => e.type === "ack" && e.id === "d")).payload).toMatchObject({ seq: 3 })
        // A target that is not (or no longer) a message of the room is `not_found`, as over HTTP.
        a.send({ type: "chat.edit", id: "gone", to: room, payload: { msg_id: sent.payload.msg_id, text: "again" } })
        expect((await a.next((e) => e.type === "error" && e.id === "gone")).payload).toEqual({
          code: "not_found",
          message: "the message was deleted"
        })
        const unknown = "7d0c9e80-0000-1000-8000-000000000001"
        a.send({ type: "chat.delete", id: "unknown", to: room, payload: { msg_id: unknown } })
        expect((await a.next((e) => e.type === "error" && e.id === "unknown")).payload).toEqual({
          code: "not_found",
          message: "no such message in this room"
        })

        await b.next((e) => e.type === "chat.message" && e.payload.seq === 3)
        expect(b.messages(room).map((e) => [e.payload.seq, e.payload.kind, e.payload.target_id])).toEqual([
          [1, "message", null],
          [2, "edit", sent.payload.msg_id],
          [3, "delete", sent.payload.msg_id]
        ])

        const late = await connect(server.url, { token: bob.token })
        try {
          late.send({ type: "channel.resume", id: "r", to: room, after: sent.payload.msg_id })
          expect((await late.next((e) => e.type === "ack" && e.id === "r")).payload.replayed).toBe(2)
          expect(late.messages(room).map((e) => [e.payload.seq, e.payload.kind, e.payload.text])).toEqual([
            [2, "edit", "first!"],
            [3, "delete", ""]
          ])
        } finally {
          late.close()
        }
      } finally {
        a.close()
        b.close()
      }
    })
  })
