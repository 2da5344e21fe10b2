/**
 * Rooms, membership and messages over real HTTP against a real server process, plus the
 * one crossing into realtime: a message posted over HTTP reaches the room's WebSocket
 * subscribers. Called once per storage backend by the `*.integration.test.ts` files.
 */

import { randomUUID } from "node:crypto"
import { compareTimeUuid, isTimeUuid, timeUuidFrom } from "@parley/domain"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Reply, request, uniqueName } from "./support/http.ts"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"
import { account, connect } from "./support/ws.ts"

type User = Awaited<ReturnType<typeof account>>

interface Room {
  readonly room_id: string
  readonly name: string
  readonly visibility: "public" | "private"
  readonly created_by: string
  readonly created_at: string
  readonly role: "owner" | "admin" | "member" | null
  readonly archived: boolean
}

interface Message {
  readonly room_id: string
  readonly msg_id: string
  readonly seq: number
  readonly user_id: string
  readonly username: string
  readonly text: string
  readonly client_msg_id: string | null
  readonly created_at: string
}

const isoDate = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** The API's one error shape, with the status and code expected. */
const expectError = (res: Reply, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(res.body?.error?.code, JSON.stringify(res.body)).toBe(code)
  expect(typeof res.body.error.message).toBe("string")
}

export const chatHttpSuite = (backend: Backend) =>
  describe(`chat over HTTP (${backend.name})`, () => {
    let server: RunningServer
    const call = <T = any>(method: string, path: string, options?: Parameters<typeof request>[3]) =>
      request<T>(server.url, method, path, options)

    const user = () => account(server.url, "c")
    const createRoom = async (owner: User, visibility?: "public" | "private", name = uniqueName("room")) => {
      const res = await call<Room>("POST", "/api/chat/rooms", {
        token: owner.token,
        body: visibility === undefined ? { name } : { name, visibility }
      })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      return res.body
    }
    const rooms = (path: string) => `/api/chat/rooms${path}`
    const post = (who: User, roomId: string, content: string, clientMsgId?: string) =>
      call<Message>("POST", rooms(`/${roomId}/messages`), {
        token: who.token,
        body: clientMsgId === undefined ? { content } : { content, client_msg_id: clientMsgId }
      })
    const posted = async (who: User, roomId: string, content: string, clientMsgId?: string) => {
      const res = await post(who, roomId, content, clientMsgId)
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      return res.body
    }
    const history = (who: User, roomId: string, query = "") =>
      call<{ messages: Array<Message>; next_cursor: string | null }>("GET", rooms(`/${roomId}/messages${query}`), {
        token: who.token
      })
    const putMember = (who: User, roomId: string, target: string, role?: "admin" | "member") =>
      call("PUT", rooms(`/${roomId}/members/${target}`), {
        token: who.token,
        body: role === undefined ? {} : { role }
      })
    const removeMember = (who: User, roomId: string, target: string) =>
      call("DELETE", rooms(`/${roomId}/members/${target}`), { token: who.token })

    /** Follows `next_cursor` from `first` until it is null; fails if it never is. */
    const pages = async <T>(
      first: string,
      next: (cursor: string) => string,
      token: string,
      items: (body: any) => Array<T>
    ): Promise<Array<Array<T>>> => {
      const out: Array<Array<T>> = []
      let path = first
      for (let i = 0; i < 100; i++) {
        const res = await call("GET", path, { token })
        expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(200)
        out.push(items(res.body))
        if (res.body.next_cursor === null) return out
        expect(typeof res.body.next_cursor).toBe("string")
        path = next(res.body.next_cursor)
      }
      throw new Error(`${first}: next_cursor never became null`)
    }
    const roomPages = (who: User, query: Record<string, string>) => {
      const path = (cursor?: string) =>
        rooms(`?${new URLSearchParams({ ...query, ...(cursor === undefined ? {} : { cursor }) })}`)
      return pages<Room>(path(), path, who.token, (body) => body.rooms)
    }
    const messagePages = (who: User, roomId: string, direction: "before" | "after", limit: number, from?: string) => {
      const path = (cursor?: string) =>
        rooms(
          `/${roomId}/messages?${new URLSearchParams({ limit: String(limit), ...(cursor === undefined ? {} : { [direction]: cursor }) })}`
        )
      return pages<Message>(path(from), path, who.token, (body) => {
        // The cursor is the last message of the page it came with.
        if (body.next_cursor !== null) expect(body.next_cursor).toBe(body.messages.at(-1).msg_id)
        return body.messages
      })
    }

    beforeAll(async () => {
      server = await startServer(backend)
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("creates public (the default) and private rooms, owned by their creator", async () => {
      const owner = await user()
      const open = await call<Room>("POST", "/api/chat/rooms", { token: owner.token, body: { name: "general" } })
      expect(open.status).toBe(201)
      expect(open.body).toEqual({
        room_id: expect.any(String),
        name: "general",
        visibility: "public",
        created_by: owner.id,
        created_at: expect.stringMatching(isoDate),
        role: "owner",
        archived: false,
        kind: "room",
        peer: null,
        unread: 0,
        read_seq: 0,
        last_message: null
      })
      expect(isTimeUuid(open.body.room_id)).toBe(true)
      const padded = await call<Room>("POST", "/api/chat/rooms", { token: owner.token, body: { name: "  random  " } })
      expect(padded.status).toBe(201)
      expect(padded.body.name).toBe("random")
      expect(open.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)

      const closed = await createRoom(owner, "private")
      expect(closed).toMatchObject({ visibility: "private", created_by: owner.id, role: "owner" })
      expect(closed.room_id).not.toBe(open.body.room_id)
      // Names need not be unique: rooms are told apart by id.
      expect((await createRoom(owner, "public", "general")).room_id).not.toBe(open.body.room_id)
      expect((await createRoom(owner, undefined, "x".repeat(100))).name).toBe("x".repeat(100))

      for (const got of [open.body, closed]) {
        const res = await call<Room>("GET", rooms(`/${got.room_id}`), { token: owner.token })
        expect(res.status).toBe(200)
        expect(res.body).toEqual(got)
      }
    })

    it("refuses a bad room name, visibility or body with 400", async () => {
      const owner = await user()
      const invalid: Array<unknown> = [
        {},
        { name: "" },
        { name: "   " },
        { name: "x".repeat(101) },
        { name: 42 },
        { name: null },
        { name: "ok", visibility: "secret" },
        { name: "ok", visibility: "PUBLIC" },
        { name: "ok", visibility: null },
        // A property /openapi.json does not name (it says additionalProperties: false).
        { name: "ok", topic: "extra" },
        [],
        "general"
      ]
      for (const body of invalid) {
        const res = await call("POST", "/api/chat/rooms", { token: owner.token, body })
        expectError(res, 400, "invalid_request")
      }
      for (const c of ["\u001b[2J", "\u202e", "\u2066", "\u0000", "\u0085"]) {
        const res = await call("POST", "/api/chat/rooms", { token: owner.token, body: { name: `gen${c}eral` } })
        expectError(res, 400, "invalid_request")
        expect(res.body.error.message).toBe(
          "payload.name: room name must not contain control or invisible formatting characters (Unicode Cc/Cf)"
        )
      }
      expectError(
        await call("POST", "/api/chat/rooms", { token: owner.token, rawBody: "{not json" }),
        400,
        "invalid_request"
      )
      // curl's default form encoding is not JSON: 415, in the same JSON error shape.
      const form = await call("POST", "/api/chat/rooms", {
        token: owner.token,
        rawBody: "name=general",
        headers: { "content-type": "application/x-www-form-urlencoded" }
      })
      expectError(form, 415, "unsupported_media_type")
      expect(form.headers.get("content-type")).toMatch(/^application\/json/)
      const joined = await call("GET", rooms(""), { token: owner.token })
      expect(joined.body).toEqual({ rooms: [], next_cursor: null })
    })

    it("lists joined rooms by default and the public directory, paging with the cursor", async () => {
      const alice = await user()
      const bob = await user()
      const mine = [
        await createRoom(alice, "public"),
        await createRoom(alice, "private"),
        await createRoom(alice, "public"),
        await createRoom(alice, "private"),
        await createRoom(alice, "public")
      ]
      const bobsPublic = await createRoom(bob, "public")
      const bobsPrivate = await createRoom(bob, "private")
      const byId = (a: Room, b: Room) => compareTimeUuid(a.room_id, b.room_id)

      // Joined (the default scope): exactly alice's rooms, oldest first, in one page or many.
      const all = await call("GET", rooms(""), { token: alice.token })
      expect(all.status).toBe(200)
      expect(all.body.next_cursor).toBeNull()
      expect(all.body.rooms).toEqual([...mine].sort(byId))
      expect(await call("GET", rooms("?scope=joined"), { token: alice.token }).then((r) => r.body)).toEqual(all.body)
      const paged = await roomPages(alice, { limit: "2" })
      expect(paged.map((p) => p.length)).toEqual([2, 2, 1])
      expect(paged.flat()).toEqual(all.body.rooms)
      // A page that ends exactly at the last room says there is no next one.
      expect((await roomPages(alice, { limit: "5" })).map((p) => p.length)).toEqual([5])

      // The public directory: every public room, with the caller's role in it; no private ones.
      const directory = (await roomPages(alice, { scope: "public", limit: "3" })).flat()
      const ids = directory.map((r) => r.room_id)
      expect(new Set(ids).size).toBe(ids.length)
      expect(directory.every((r) => r.visibility === "public")).toBe(true)
      expect(ids).not.toContain(bobsPrivate.room_id)
      for (const room of mine.filter((r) => r.visibility === "private")) expect(ids).not.toContain(room.room_id)
      for (const room of mine.filter((r) => r.visibility === "public")) {
        expect(directory.find((r) => r.room_id === room.room_id)).toEqual(room)
      }
      expect(directory.find((r) => r.room_id === bobsPublic.room_id)).toEqual({ ...bobsPublic, role: null })
      expect([...directory].sort(byId)).toEqual(directory)

      // Joining bob's public room puts it in alice's joined list.
      expect((await call("POST", rooms(`/${bobsPublic.room_id}/join`), { token: alice.token })).status).toBe(200)
      const after = (await roomPages(alice, { limit: "4" })).flat()
      expect(after).toEqual([...mine, { ...bobsPublic, role: "member" as const }].sort(byId))

      for (const query of [
        "limit=0",
        "limit=101",
        "limit=abc",
        "scope=everything",
        "cursor=nope",
        `cursor=${randomUUID()}`
      ]) {
        expectError(await call("GET", rooms(`?${query}`), { token: alice.token }), 400, "invalid_request")
      }
    })

    it("gets a public room, joins and leaves it", async () => {
      const owner = await user()
      const guest = await user()
      const room = await createRoom(owner, "public")

      const seen = await call("GET", rooms(`/${room.room_id}`), { token: guest.token })
      expect(seen.status).toBe(200)
      expect(seen.body).toEqual({ ...room, role: null })
      // Anyone signed in reads a public room's history and members without joining.
      expect((await history(guest, room.room_id)).body).toEqual({ messages: [], next_cursor: null })
      const members = await call("GET", rooms(`/${room.room_id}/members`), { token: guest.token })
      expect(members.body.members.map((m: any) => [m.user_id, m.role])).toEqual([[owner.id, "owner"]])

      const joined = await call("POST", rooms(`/${room.room_id}/join`), { token: guest.token })
      expect(joined.status).toBe(200)
      expect(joined.body).toEqual({ ...room, role: "member" })
      // Joining again changes nothing.
      expect((await call("POST", rooms(`/${room.room_id}/join`), { token: guest.token })).body).toEqual(joined.body)
      expect((await call("GET", rooms(`/${room.room_id}`), { token: guest.token })).body.role).toBe("member")
      expect((await call("GET", rooms(""), { token: guest.token })).body.rooms).toEqual([joined.body])
      const listed = await call("GET", rooms(`/${room.room_id}/members`), { token: owner.token })
      expect(listed.body.members).toHaveLength(2)
      expect(listed.body.members.find((m: any) => m.user_id === guest.id)).toEqual({
        user_id: guest.id,
        role: "member",
        joined_at: expect.stringMatching(isoDate)
      })

      const left = await call("POST", rooms(`/${room.room_id}/leave`), { token: guest.token })
      expect(left.status).toBe(204)
      expect((await call("GET", rooms(`/${room.room_id}`), { token: guest.token })).body.role).toBeNull()
      expect((await call("GET", rooms(""), { token: guest.token })).body.rooms).toEqual([])
      expect(
        (await call("GET", rooms(`/${room.room_id}/members`), { token: owner.token })).body.members.map(
          (m: any) => m.user_id
        )
      ).toEqual([owner.id])
      expectError(await post(guest, room.room_id, "still here?"), 403, "forbidden")
      // Leaving a public room one is not in: already done.
      expect((await call("POST", rooms(`/${room.room_id}/leave`), { token: guest.token })).status).toBe(204)

      // The owner cannot leave, by either route.
      expectError(await call("POST", rooms(`/${room.room_id}/leave`), { token: owner.token }), 403, "forbidden")
      expectError(await removeMember(owner, room.room_id, owner.id), 403, "forbidden")
      expect((await call("GET", rooms(`/${room.room_id}`), { token: owner.token })).body.role).toBe("owner")

      // Rooms that do not exist: an unknown TIMEUUID, and a UUID of another version.
      for (const id of [timeUuidFrom(Date.now(), 0), randomUUID()]) {
        expectError(await call("GET", rooms(`/${id}`), { token: guest.token }), 404, "not_found")
        expectError(await call("POST", rooms(`/${id}/join`), { token: guest.token }), 404, "not_found")
        expectError(await history(guest, id), 404, "not_found")
        expectError(await post(guest, id, "hello?"), 404, "not_found")
        expectError(await call("GET", rooms(`/${id}/members`), { token: guest.token }), 404, "not_found")
      }
    })

    it("hides a private room from non-members: 404 for everything in it", async () => {
      const owner = await user()
      const outsider = await user()
      const room = await createRoom(owner, "private")
      await posted(owner, room.room_id, "secret plans")
      const missing = await call("GET", rooms(`/${timeUuidFrom(Date.now(), 1)}`), { token: outsider.token })

      const attempts: Array<[string, string, unknown?]> = [
        ["GET", `/${room.room_id}`],
        ["POST", `/${room.room_id}/join`],
        ["POST", `/${room.room_id}/leave`],
        ["GET", `/${room.room_id}/messages`],
        ["GET", `/${room.room_id}/messages?limit=1`],
        ["POST", `/${room.room_id}/messages`, { content: "let me in" }],
        ["GET", `/${room.room_id}/members`],
        ["PUT", `/${room.room_id}/members/${outsider.id}`, {}],
        ["PUT", `/${room.room_id}/members/${outsider.id}`, { role: "admin" }],
        ["DELETE", `/${room.room_id}/members/${owner.id}`],
        ["DELETE", `/${room.room_id}/members/${outsider.id}`]
      ]
      for (const [method, path, body] of attempts) {
        const res = await call(method, rooms(path), { token: outsider.token, ...(body === undefined ? {} : { body }) })
        expectError(res, 404, "not_found")
        // Indistinguishable from a room that does not exist.
        expect(res.body, `${method} ${path}`).toEqual(missing.body)
      }
      expect((await call("GET", rooms(""), { token: outsider.token })).body.rooms).toEqual([])
      const directory = (await roomPages(outsider, { scope: "public", limit: "100" })).flat()
      expect(directory.map((r) => r.room_id)).not.toContain(room.room_id)

      // Nothing the outsider tried changed the room.
      const members = await call("GET", rooms(`/${room.room_id}/members`), { token: owner.token })
      expect(members.body.members.map((m: any) => [m.user_id, m.role])).toEqual([[owner.id, "owner"]])
      expect((await history(owner, room.room_id)).body.messages.map((m: Message) => m.text)).toEqual(["secret plans"])
    })

    it("owners and admins manage members; only the owner makes admins; the owner stays", async () => {
      const [owner, member, admin, other, fourth] = await Promise.all([user(), user(), user(), user(), user()])
      const room = await createRoom(owner, "private")
      const id = room.room_id

      // The owner adds a member (the default role), who can then read and post.
      const added = await putMember(owner, id, member.id)
      expect(added.status).toBe(200)
      expect(added.body).toEqual({ user_id: member.id, role: "member", joined_at: expect.stringMatching(isoDate) })
      expect((await call("GET", rooms(`/${id}`), { token: member.token })).body).toEqual({ ...room, role: "member" })
      expect((await call("GET", rooms(""), { token: member.token })).body.rooms).toEqual([{ ...room, role: "member" }])
      const hello = await posted(member, id, "hi, thanks for the invite")
      expect((await history(member, id)).body.messages).toEqual([hello])

      // A plain member manages nobody.
      expectError(await putMember(member, id, other.id), 403, "forbidden")
      expectError(await putMember(member, id, other.id, "admin"), 403, "forbidden")
      expectError(await putMember(member, id, member.id, "admin"), 403, "forbidden")
      expectError(await removeMember(member, id, owner.id), 403, "forbidden")
      expectError(await call("GET", rooms(`/${id}`), { token: other.token }), 404, "not_found")

      // The owner makes an admin; the admin adds and removes members but makes no admins.
      expect((await putMember(owner, id, admin.id, "admin")).body.role).toBe("admin")
      expect((await putMember(admin, id, other.id)).body).toMatchObject({ user_id: other.id, role: "member" })
      expect((await call("GET", rooms(`/${id}`), { token: other.token })).body.role).toBe("member")
      expectError(await putMember(admin, id, fourth.id, "admin"), 403, "forbidden")
      expectError(await putMember(admin, id, other.id, "admin"), 403, "forbidden")
      expect((await removeMember(admin, id, other.id)).status).toBe(204)
      expectError(await call("GET", rooms(`/${id}`), { token: other.token }), 404, "not_found")
      expectError(await post(other, id, "am I still in?"), 404, "not_found")
      expectError(await removeMember(admin, id, other.id), 404, "not_found")

      // Nobody removes the owner or changes the owner's role, the owner included.
      expectError(await removeMember(admin, id, owner.id), 403, "forbidden")
      expectError(await putMember(admin, id, owner.id), 403, "forbidden")
      expectError(await putMember(owner, id, owner.id, "admin"), 403, "forbidden")
      expectError(await removeMember(owner, id, owner.id), 403, "forbidden")
      expectError(await call("POST", rooms(`/${id}/leave`), { token: owner.token }), 403, "forbidden")

      // Admins do not touch other admins; the owner demotes and removes them.
      expect((await putMember(owner, id, member.id, "admin")).body).toEqual({ ...added.body, role: "admin" })
      expectError(await removeMember(admin, id, member.id), 403, "forbidden")
      expectError(await putMember(admin, id, member.id, "member"), 403, "forbidden")
      expect((await putMember(owner, id, member.id, "member")).body.role).toBe("member")
      expect((await putMember(owner, id, member.id, "admin")).body.role).toBe("admin")
      expect((await removeMember(owner, id, admin.id)).status).toBe(204)
      expectError(await call("GET", rooms(`/${id}`), { token: admin.token }), 404, "not_found")

      // Unknown users, malformed ids and bodies.
      expectError(await putMember(owner, id, randomUUID()), 404, "not_found")
      expectError(await putMember(owner, id, "not-a-uuid"), 400, "invalid_request")
      expectError(await removeMember(owner, id, "not-a-uuid"), 400, "invalid_request")
      for (const role of ["owner", "boss", 1]) {
        const res = await call("PUT", rooms(`/${id}/members/${fourth.id}`), { token: owner.token, body: { role } })
        expectError(res, 400, "invalid_request")
      }

      // Members page through with the cursor; a member leaves by removing themself.
      expect((await putMember(owner, id, fourth.id)).status).toBe(200)
      expect((await putMember(owner, id, other.id)).status).toBe(200)
      const roster = await pages<any>(
        rooms(`/${id}/members?limit=2`),
        (cursor) => rooms(`/${id}/members?limit=2&cursor=${cursor}`),
        member.token,
        (body) => body.members
      )
      expect(roster.map((p) => p.length)).toEqual([2, 2])
      expect(Object.fromEntries(roster.flat().map((m) => [m.user_id, m.role]))).toEqual({
        [owner.id]: "owner",
        [member.id]: "admin",
        [fourth.id]: "member",
        [other.id]: "member"
      })
      expectError(
        await call("GET", rooms(`/${id}/members?cursor=nope`), { token: owner.token }),
        400,
        "invalid_request"
      )
      expect((await removeMember(fourth, id, fourth.id)).status).toBe(204)
      expectError(await call("GET", rooms(`/${id}`), { token: fourth.token }), 404, "not_found")
      expect((await call("POST", rooms(`/${id}/leave`), { token: other.token })).status).toBe(204)
      const left = await call("GET", rooms(`/${id}/members`), { token: owner.token })
      expect(left.body.members.map((m: any) => m.user_id).sort()).toEqual([owner.id, member.id].sort())
    })

    it("a user added to a private room without asking can leave it, which is how an add is declined", async () => {
      const owner = await user()
      const added = await user()
      const room = await createRoom(owner, "private")
      expect((await putMember(owner, room.room_id, added.id)).status).toBe(200)
      // The add shows at once in the added user's own list, as a member.
      const listed = await call<{ rooms: Array<Room> }>("GET", rooms(""), { token: added.token })
      expect(listed.body.rooms.map((r) => [r.room_id, r.role])).toEqual([[room.room_id, "member"]])
      expect((await call("POST", rooms(`/${room.room_id}/leave`), { token: added.token })).status).toBe(204)
      // Gone from the list; the private room is then as invisible to them as before the add.
      expect((await call("GET", rooms(""), { token: added.token })).body).toEqual({ rooms: [], next_cursor: null })
      expectError(await call("GET", rooms(`/${room.room_id}`), { token: added.token }), 404, "not_found")
      expectError(await post(added, room.room_id, "still here?"), 404, "not_found")
      const members = await call("GET", rooms(`/${room.room_id}/members`), { token: owner.token })
      expect(members.body.members.map((m: any) => m.user_id)).toEqual([owner.id])
    })

    it("posts messages as a member only, numbered 1, 2, 3… per room", async () => {
      const owner = await user()
      const guest = await user()
      const room = await createRoom(owner)
      const first = await post(owner, room.room_id, "one")
      expect(first.status).toBe(201)
      expect(first.body).toEqual({
        room_id: room.room_id,
        msg_id: expect.any(String),
        seq: 1,
        kind: "message",
        target_id: null,
        user_id: owner.id,
        username: owner.username,
        text: "one",
        client_msg_id: null,
        created_at: expect.stringMatching(isoDate),
        edited_at: null,
        deleted_by: null
      })
      expect(isTimeUuid(first.body.msg_id)).toBe(true)
      const second = await posted(owner, room.room_id, "two")
      const third = await posted(owner, room.room_id, "three ✓ — ünïcödé 🎉")
      expect([second.seq, third.seq]).toEqual([2, 3])
      expect(compareTimeUuid(first.body.msg_id, second.msg_id)).toBeLessThan(0)
      expect(compareTimeUuid(second.msg_id, third.msg_id)).toBeLessThan(0)
      // Another room counts from 1 again.
      expect((await posted(owner, (await createRoom(owner)).room_id, "elsewhere")).seq).toBe(1)

      // Reading a public room needs no membership; posting does.
      expectError(await post(guest, room.room_id, "drive-by"), 403, "forbidden")
      expect((await history(guest, room.room_id)).body.messages).toEqual([third, second, first.body])
      await call("POST", rooms(`/${room.room_id}/join`), { token: guest.token })
      const fourth = await posted(guest, room.room_id, "joined now")
      expect(fourth).toMatchObject({ seq: 4, user_id: guest.id, username: guest.username })

      // Text is 1 to 4,000 characters; the body must be `{content, client_msg_id?}`.
      expect((await posted(owner, room.room_id, "x".repeat(4000))).text).toHaveLength(4000)
      const bad: Array<unknown> = [
        { content: "" },
        { content: "x".repeat(4001) },
        {},
        { text: "the WebSocket field name" },
        { content: 42 },
        { content: null },
        { content: "ok", client_msg_id: "" },
        { content: "ok", client_msg_id: "k".repeat(65) },
        { content: "ok", client_msg_id: 7 }
      ]
      for (const body of bad) {
        const res = await call("POST", rooms(`/${room.room_id}/messages`), { token: owner.token, body })
        expectError(res, 400, "invalid_request")
      }
      expectError(
        await call("POST", rooms(`/${room.room_id}/messages`), { token: owner.token, rawBody: '{"content":' }),
        400,
        "invalid_request"
      )
      // Refused posts took no numbers.
      expect((await posted(owner, room.room_id, "after the refusals")).seq).toBe(6)
      const stored = (await history(owner, room.room_id)).body.messages
      expect(stored.map((m) => m.seq)).toEqual([6, 5, 4, 3, 2, 1])
    })

    it("numbers concurrent posts from many senders without gaps, in storage order", async () => {
      const senders = await Promise.all(range(1, 5).map(() => user()))
      const room = await createRoom(senders[0]!)
      await Promise.all(senders.slice(1).map((s) => call("POST", rooms(`/${room.room_id}/join`), { token: s.token })))
      const results = await Promise.all(
        senders.flatMap((s, i) => range(1, 6).map((n) => post(s, room.room_id, `sender ${i} message ${n}`)))
      )
      expect(results.map((r) => r.status)).toEqual(results.map(() => 201))
      expect(results.map((r) => r.body.seq).sort((a, b) => a - b)).toEqual(range(1, 30))
      const stored = (await history(senders[0]!, room.room_id, "?limit=100")).body.messages
      expect(stored.map((m) => m.seq)).toEqual(range(1, 30).reverse())
      const ids = stored.map((m) => m.msg_id)
      expect([...ids].sort(compareTimeUuid).reverse()).toEqual(ids)
      // Every reply is exactly what was stored.
      for (const r of results) expect(stored.find((m) => m.msg_id === r.body.msg_id)).toEqual(r.body)
    })

    it("stores a send once per client_msg_id, even when the retries race", async () => {
      const alice = await user()
      const bob = await user()
      const room = await createRoom(alice)
      await call("POST", rooms(`/${room.room_id}/join`), { token: bob.token })

      const original = await posted(alice, room.room_id, "hello", "k-1")
      expect(original.client_msg_id).toBe("k-1")
      const retry = await post(alice, room.room_id, "hello", "k-1")
      expect(retry.status).toBe(201)
      expect(retry.body).toEqual(original)
      // The key belongs to the sender: the same id from someone else is another message.
      const bobs = await posted(bob, room.room_id, "hello", "k-1")
      expect(bobs.msg_id).not.toBe(original.msg_id)
      expect(bobs.seq).toBe(2)
      // A retry answers with what was stored the first time, whatever it carries now.
      expect((await posted(alice, room.room_id, "hello, edited", "k-1")).msg_id).toBe(original.msg_id)

      const racing = await Promise.all(range(1, 10).map(() => post(alice, room.room_id, "once only", "k-2")))
      expect(racing.map((r) => r.status)).toEqual(racing.map(() => 201))
      const ids = new Set(racing.map((r) => r.body.msg_id))
      expect(ids.size).toBe(1)
      expect(racing[0]!.body).toMatchObject({ seq: 3, text: "once only", client_msg_id: "k-2" })
      for (const r of racing) expect(r.body).toEqual(racing[0]!.body)

      const plain = await posted(alice, room.room_id, "no key")
      expect(plain.seq).toBe(4)
      const stored = (await history(alice, room.room_id)).body.messages
      expect(stored).toEqual([plain, racing[0]!.body, bobs, original])
      expect(stored.filter((m) => m.client_msg_id === "k-2")).toHaveLength(1)
    })

    it("pages history newest-first with before and oldest-first with after", async () => {
      const alice = await user()
      const room = await createRoom(alice)
      const sent: Array<Message> = []
      for (const n of range(1, 25)) sent.push(await posted(alice, room.room_id, `m${n}`))
      expect(sent.map((m) => m.seq)).toEqual(range(1, 25))
      for (const [i, m] of sent.entries()) {
        if (i > 0) expect(compareTimeUuid(sent[i - 1]!.msg_id, m.msg_id)).toBeLessThan(0)
      }

      const newest = await messagePages(alice, room.room_id, "before", 10)
      expect(newest.map((p) => p.length)).toEqual([10, 10, 5])
      expect(newest.flat()).toEqual([...sent].reverse())
      // From before the first message (any TIMEUUID is a position), oldest first.
      const oldest = await messagePages(alice, room.room_id, "after", 10, timeUuidFrom(0, 0))
      expect(oldest.map((p) => p.length)).toEqual([10, 10, 5])
      expect(oldest.flat()).toEqual(sent)
      expect(oldest.flat()).toEqual([...newest.flat()].reverse())

      // Pages that end exactly at the last message: no empty page after them.
      expect((await messagePages(alice, room.room_id, "before", 5)).map((p) => p.length)).toEqual([5, 5, 5, 5, 5])
      const caughtUp = await messagePages(alice, room.room_id, "after", 5, sent[4]!.msg_id)
      expect(caughtUp.map((p) => p.length)).toEqual([5, 5, 5, 5])
      expect(caughtUp.flat()).toEqual(sent.slice(5))
      expect((await messagePages(alice, room.room_id, "before", 7, sent[10]!.msg_id)).flat()).toEqual(
        sent.slice(0, 10).reverse()
      )

      // The default page holds all 25 (newest first); the ends are empty.
      expect((await history(alice, room.room_id)).body).toEqual({ messages: [...sent].reverse(), next_cursor: null })
      expect((await history(alice, room.room_id, "?limit=100")).body.messages).toHaveLength(25)
      expect((await history(alice, room.room_id, `?before=${sent[0]!.msg_id}`)).body).toEqual({
        messages: [],
        next_cursor: null
      })
      expect((await history(alice, room.room_id, `?after=${sent[24]!.msg_id}`)).body).toEqual({
        messages: [],
        next_cursor: null
      })
      expect((await history(alice, room.room_id, "?limit=1")).body).toEqual({
        messages: [sent[24]],
        next_cursor: sent[24]!.msg_id
      })

      // Both: oldest first, strictly between the two, paged like `after` (400 before issue 11,
      // while /openapi.json allowed both).
      const between = (after: number, before: number, limit: number) =>
        history(alice, room.room_id, `?after=${sent[after]!.msg_id}&before=${sent[before]!.msg_id}&limit=${limit}`)
      expect((await between(2, 20, 5)).body).toEqual({ messages: sent.slice(3, 8), next_cursor: sent[7]!.msg_id })
      expect((await between(2, 8, 5)).body).toEqual({ messages: sent.slice(3, 8), next_cursor: null })
      expect((await between(2, 7, 5)).body).toEqual({ messages: sent.slice(3, 7), next_cursor: null })
      expect((await between(12, 12, 5)).body).toEqual({ messages: [], next_cursor: null })
      expect((await between(20, 2, 5)).body).toEqual({ messages: [], next_cursor: null })

      for (const query of [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=2.5",
        "limit=0x10",
        "limit=1e1",
        "limit=%201",
        "before=nope",
        "after=nope",
        `before=${randomUUID()}`,
        `after=${randomUUID()}`,
        "after=00000000-0000-0000-0000-000000000000",
        "limit=01"
      ]) {
        const res = await call("GET", rooms(`/${room.room_id}/messages?${query}`), { token: alice.token })
        expectError(res, 400, "invalid_request")
        expect(res.body.error.message, query).toMatch(/query|before|after/)
      }
    })

    it("rate-limits room creation per user with 429 and Retry-After", async () => {
      const founder = await user()
      // 30 per hour by default; a fixed window may roll over mid-burst.
      let accepted = 0
      let refused: Reply | undefined
      for (let i = 0; i < 61 && refused === undefined; i++) {
        const res = await call("POST", "/api/chat/rooms", { token: founder.token, body: { name: `r${i}` } })
        if (res.status === 201) accepted++
        else refused = res
      }
      expect(refused, "no creation was refused").toBeDefined()
      expectError(refused!, 429, "rate_limited")
      expect(accepted).toBeGreaterThanOrEqual(30)
      expect(Number(refused!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
      // Someone else still creates rooms.
      expect((await createRoom(await user())).role).toBe("owner")
    })

    it("rate-limits posting per user with 429 and Retry-After", async () => {
      const chatty = await user()
      const bystander = await user()
      const room = await createRoom(chatty)
      await call("POST", rooms(`/${room.room_id}/join`), { token: bystander.token })
      // 50 per 10-second window by default. A fixed window may roll over mid-burst, so the
      // first refusal comes after 50 to 100 accepted posts.
      let accepted = 0
      let refused: Reply | undefined
      for (let i = 0; i < 101 && refused === undefined; i++) {
        const res = await post(chatty, room.room_id, `burst ${i}`)
        if (res.status === 201) accepted++
        else refused = res
      }
      expect(refused, "no post was refused").toBeDefined()
      expectError(refused!, 429, "rate_limited")
      expect(accepted).toBeGreaterThanOrEqual(50)
      expect(accepted).toBeLessThanOrEqual(100)
      const retryAfter = Number(refused!.headers.get("retry-after"))
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      expect(retryAfter).toBeLessThanOrEqual(10)
      // The refused post was not stored, and others still post.
      const last = (await history(chatty, room.room_id, "?limit=1")).body.messages[0]!
      expect(last.seq).toBe(accepted)
      expect((await posted(bystander, room.room_id, "my turn")).seq).toBe(accepted + 1)
    })

    it("answers 400 for malformed ids in the path and 401 without a valid token", async () => {
      const alice = await user()
      const room = await createRoom(alice)
      for (const [method, path, body] of [
        ["GET", "/not-a-uuid"],
        ["POST", "/not-a-uuid/join"],
        ["POST", "/not-a-uuid/leave"],
        ["GET", "/not-a-uuid/members"],
        ["GET", "/not-a-uuid/messages"],
        ["POST", "/not-a-uuid/messages", { content: "hi" }],
        ["GET", "/12345678-1234-1234-1234-1234567890/messages"],
        ["PUT", `/${room.room_id}/members/not-a-uuid`, {}],
        ["DELETE", `/${room.room_id}/members/not-a-uuid`]
      ] as Array<[string, string, unknown?]>) {
        const res = await call(method, rooms(path), { token: alice.token, ...(body === undefined ? {} : { body }) })
        expectError(res, 400, "invalid_request")
      }

      const endpoints: Array<[string, string, unknown?]> = [
        ["POST", "", { name: "sneaky" }],
        ["GET", ""],
        ["GET", "?scope=public"],
        ["GET", `/${room.room_id}`],
        ["POST", `/${room.room_id}/join`],
        ["POST", `/${room.room_id}/leave`],
        ["GET", `/${room.room_id}/members`],
        ["PUT", `/${room.room_id}/members/${alice.id}`, {}],
        ["DELETE", `/${room.room_id}/members/${alice.id}`],
        ["POST", `/${room.room_id}/messages`, { content: "anonymous" }],
        ["GET", `/${room.room_id}/messages`],
        ["GET", "/not-a-uuid/messages"],
        ["GET", "?limit=0"],
        ["POST", "", {}]
      ]
      for (const token of [undefined, "not.a.jwt", `${alice.token}x`]) {
        for (const [method, path, body] of endpoints) {
          const res = await call(method, rooms(path), {
            ...(token === undefined ? {} : { token }),
            ...(body === undefined ? {} : { body })
          })
          expectError(res, 401, "unauthorized")
        }
      }
      // Nothing got through.
      expect((await history(alice, room.room_id)).body.messages).toEqual([])
      expect((await call("GET", rooms(""), { token: alice.token })).body.rooms).toEqual([room])
    })

    it("delivers a message posted over HTTP to the room's WebSocket subscribers, and back", async () => {
      const alice = await user()
      const bob = await user()
      const room = await createRoom(alice)
      await call("POST", rooms(`/${room.room_id}/join`), { token: bob.token })
      const socket = await connect(server.url, { token: bob.token, roomId: room.room_id })
      try {
        // The online list comes once bob's subscription is live.
        await socket.next((e) => e.type === "presence" && e.payload.room_id === room.room_id)
        const sent = await posted(alice, room.room_id, "over HTTP")
        const received = await socket.next((e) => e.type === "chat.message" && e.payload.msg_id === sent.msg_id)
        expect(received.payload).toEqual(sent)

        // And the other way: sent over the WebSocket, read over HTTP.
        socket.send({ type: "chat.message", id: "w1", to: room.room_id, payload: { text: "over WS" } })
        const ack = await socket.next((e) => e.type === "ack" && e.id === "w1")
        expect(ack.payload).toMatchObject({ of: "chat.message", room_id: room.room_id, seq: 2 })
        const stored = (await history(alice, room.room_id)).body.messages
        expect(stored.map((m) => [m.msg_id, m.text, m.user_id])).toEqual([
          [ack.payload.msg_id, "over WS", bob.id],
          [sent.msg_id, "over HTTP", alice.id]
        ])
        // Its own echo may come after its ack: a busy room's broadcast waits for its window.
        await socket.next((e) => e.type === "chat.message" && e.payload.msg_id === ack.payload.msg_id)
        expect(socket.messages(room.room_id).map((e) => e.payload.seq)).toEqual([1, 2])
      } finally {
        socket.close()
      }
    })
  })
