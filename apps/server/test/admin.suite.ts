/**
 * The admin API against a real server process: who gets in (the stored role, checked on every
 * request), what operators can do to users, sessions and rooms, the stats, and the audit log
 * that records each change. Called once per backend by the `admin-*.integration.test.ts` files.
 */
import { AdminGroup } from "@parley/domain"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminAccount, adminCall, writeUser } from "./support/admin.ts"
import { eventually, request, uniqueName } from "./support/http.ts"
import { type Backend, type RunningServer, startAnotherNode, startServer } from "./support/server.ts"
import { type Account, account, connect, createRoom, joinRoom, login, type TestSocket } from "./support/ws.ts"
import { barrier, call } from "./ws.suite.ts"

/** A TIMEUUID that names no room. */
const noSuchRoom = "00000000-0000-1000-8000-000000000001"
const noSuchUser = "00000000-0000-4000-8000-000000000001"

const jwtClaims = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString())

export const adminSuite = (backend: Backend, options: { readonly twoNodes: boolean }) =>
  describe(`admin API (${backend.name}${options.twoNodes ? ", two nodes" : ""})`, () => {
    let server: RunningServer
    /** Another node of the same cluster when there are two (stats count its sockets too); else `server`. */
    let other: RunningServer
    let admin: Account
    const sockets: Array<TestSocket> = []
    const open = async (params: Parameters<typeof connect>[1], node = server) => {
      const sock = await connect(node.url, params)
      sockets.push(sock)
      return sock
    }
    const as = (who: Account, method: string, path: string, body?: unknown) =>
      request(server.url, method, path, { token: who.token, ...(body === undefined ? {} : { body }) })
    const adminDo = (method: string, path: string, options: { body?: unknown; requestId?: string } = {}) =>
      adminCall(server, admin, method, path, options)

    beforeAll(async () => {
      server = await startServer(backend, { RATE_MESSAGES_PER_USER: "100000", RATE_ROOMS_PER_USER: "100000" })
      admin = await adminAccount(backend, server)
      other = options.twoNodes ? await startAnotherNode(backend, server) : server
    })
    afterAll(async () => {
      for (const sock of sockets) sock.ws.terminate()
      if (other !== server) await other?.stop()
      await server?.stop()
    })

    it("refuses every admin route to a non-admin with 403, changing nothing, and to no token with 401", async () => {
      const outsider = await account(server.url, "out")
      const target = await account(server.url, "tgt")
      const roomId = await createRoom(server.url, target, "private")
      const endpoints = Object.values(AdminGroup.endpoints)
      // Read from the API definition, so a route added later cannot be left unguarded here.
      expect(endpoints.length).toBeGreaterThanOrEqual(15)
      for (const endpoint of endpoints) {
        const path = endpoint.path
          .replace(":user_id", target.id)
          .replace(":session_id", target.sessionId)
          .replace(":room_id", roomId)
        const body = endpoint.method === "PUT" ? { role: "admin" } : undefined
        const refused = await as(outsider, endpoint.method, path, body)
        expect(refused.status, `${endpoint.method} ${path}: ${JSON.stringify(refused.body)}`).toBe(403)
        expect(refused.body.error.code).toBe("forbidden")
        const anonymous = await request(server.url, endpoint.method, path, body === undefined ? {} : { body })
        expect(anonymous.status, `${endpoint.method} ${path} without a token`).toBe(401)
      }
      // Nothing happened: the target still signs in as a user, with the same session; the room is intact.
      const me = await as(target, "GET", "/api/me")
      expect(me.status).toBe(200)
      expect(me.body.role).toBe("user")
      const room = await as(target, "GET", `/api/chat/rooms/${roomId}`)
      expect(room.status).toBe(200)
      expect(room.body.archived).toBe(false)
      expect((await adminDo("GET", "/api/admin/audit?limit=100")).body.entries).not.toContainEqual(
        expect.objectContaining({ target_id: target.id })
      )
      const openapi = await request(server.url, "GET", "/openapi.json")
      for (const endpoint of endpoints) {
        const documented = endpoint.path.replace(/:(\w+)/g, "{$1}")
        expect(Object.keys(openapi.body.paths), documented).toContain(documented)
      }
    })

    it("decides by the stored role on every request: a promotion and a demotion take effect at once", async () => {
      const who = await account(server.url, "prm")
      expect(jwtClaims(who.token).role).toBe("user")
      expect((await as(who, "GET", "/api/admin/stats")).status).toBe(403)

      const promoted = await adminDo("PUT", `/api/admin/users/${who.id}/role`, { body: { role: "admin" } })
      expect(promoted.status, JSON.stringify(promoted.body)).toBe(200)
      expect(promoted.body.role).toBe("admin")
      // The same token, issued when they were a user, now gets in: the role is read from storage.
      expect((await as(who, "GET", "/api/admin/stats")).status).toBe(200)
      expect((await as(who, "GET", "/api/me")).body.role).toBe("admin")
      expect(jwtClaims((await login(server.url, who.username)).token).role).toBe("admin")

      const demoted = await adminDo("PUT", `/api/admin/users/${who.id}/role`, { body: { role: "user" } })
      expect(demoted.body.role).toBe("user")
      expect((await as(who, "GET", "/api/admin/stats")).status).toBe(403)

      // The first admin is made outside the API, in storage: that works the same way.
      await writeUser(backend, server, who.id, { role: "admin" })
      expect((await as(who, "GET", "/api/admin/stats")).status).toBe(200)
      await writeUser(backend, server, who.id, { role: "user" })
      expect((await as(who, "GET", "/api/admin/stats")).status).toBe(403)

      const bad = await adminDo("PUT", `/api/admin/users/${who.id}/role`, { body: { role: "root" } })
      expect(bad.status).toBe(400)
      expect(bad.body.error.code).toBe("invalid_request")
    })

    it("lists users in username order with paging and search, shows one, and answers 404 for none", async () => {
      const prefix = uniqueName("pg")
      const made = [
        await account(server.url, prefix),
        await account(server.url, prefix),
        await account(server.url, prefix)
      ]
      const names = made.map((u) => u.username).sort()

      const first = await adminDo("GET", `/api/admin/users?q=${prefix.toUpperCase()}&limit=2`)
      expect(first.status, JSON.stringify(first.body)).toBe(200)
      expect(first.body.users.map((u: any) => u.username)).toEqual(names.slice(0, 2))
      expect(first.body.next_cursor).not.toBeNull()
      const second = await adminDo(
        "GET",
        `/api/admin/users?q=${prefix}&limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`
      )
      expect(second.body.users.map((u: any) => u.username)).toEqual(names.slice(2))
      expect(second.body.next_cursor).toBeNull()

      const byEmail = await adminDo("GET", `/api/admin/users?q=${made[1]!.username.toUpperCase()}@example.com`)
      expect(byEmail.body.users.map((u: any) => u.id)).toEqual([made[1]!.id])

      // Without a search, every user, page by page, the admin among them.
      const everyone: Array<any> = []
      let cursor: string | null = null
      do {
        const page: any = await adminDo(
          "GET",
          `/api/admin/users?limit=3${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`
        )
        everyone.push(...page.body.users)
        cursor = page.body.next_cursor
      } while (cursor !== null)
      const keys = everyone.map((u) => u.username.toLowerCase())
      expect(keys).toEqual([...keys].sort())
      expect(new Set(keys).size).toBe(keys.length)
      expect(everyone.map((u) => u.id)).toEqual(expect.arrayContaining([admin.id, ...made.map((u) => u.id)]))

      const shown = await adminDo("GET", `/api/admin/users/${made[0]!.id}`)
      expect(shown.body).toMatchObject({
        id: made[0]!.id,
        username: made[0]!.username,
        email: `${made[0]!.username}@example.com`,
        role: "user",
        disabled: false
      })
      expect(shown.body.password_hash).toBeUndefined()
      const missing = await adminDo("GET", `/api/admin/users/${noSuchUser}`)
      expect(missing.status).toBe(404)
      expect(missing.body.error.code).toBe("not_found")
      expect((await adminDo("GET", "/api/admin/users/not-a-uuid")).status).toBe(400)
      expect((await adminDo("GET", "/api/admin/users?limit=0")).status).toBe(400)
    })

    it("disabling ends the user's sessions and login, enabling restores login; an admin cannot disable or demote themself", async () => {
      const who = await account(server.url, "dis")
      const disabled = await adminDo("POST", `/api/admin/users/${who.id}/disable`)
      expect(disabled.status, JSON.stringify(disabled.body)).toBe(200)
      expect(disabled.body.disabled).toBe(true)
      expect((await as(who, "GET", "/api/me")).status).toBe(401)
      expect(
        (await request(server.url, "POST", "/api/refresh", { body: { refresh_token: who.refreshToken } })).status
      ).toBe(401)
      const refused = await request(server.url, "POST", "/login", {
        body: { email_or_username: who.username, password: "secret12" }
      })
      expect(refused.status).toBe(403)

      const enabled = await adminDo("POST", `/api/admin/users/${who.id}/enable`)
      expect(enabled.body.disabled).toBe(false)
      // Enabling does not bring the ended sessions back; a new login works.
      expect((await as(who, "GET", "/api/me")).status).toBe(401)
      const again = await login(server.url, who.username)
      expect((await request(server.url, "GET", "/api/me", { token: again.token })).status).toBe(200)

      const self = await adminDo("POST", `/api/admin/users/${admin.id}/disable`)
      expect(self.status).toBe(403)
      expect(self.body.error.message).toContain("your own account")
      const selfRole = await adminDo("PUT", `/api/admin/users/${admin.id}/role`, { body: { role: "user" } })
      expect(selfRole.status).toBe(403)
      expect((await adminDo("GET", "/api/admin/stats")).status).toBe(200)
      expect((await adminDo("POST", `/api/admin/users/${noSuchUser}/disable`)).status).toBe(404)
    })

    it("lists a user's live sessions, revokes one of them, then all of them", async () => {
      const who = await account(server.url, "ses")
      const phone = await login(server.url, who.username)
      const tablet = await login(server.url, who.username)
      const listed = await adminDo("GET", `/api/admin/users/${who.id}/sessions`)
      expect(listed.status).toBe(200)
      expect(listed.body.sessions.map((s: any) => s.id).sort()).toEqual(
        [who.sessionId, phone.sessionId, tablet.sessionId].sort()
      )
      for (const s of listed.body.sessions) expect(s.current).toBe(false)

      // Another user's session through this user's path is not found, and stays alive.
      const other = await account(server.url, "oth")
      const wrong = await adminDo("DELETE", `/api/admin/users/${who.id}/sessions/${other.sessionId}`)
      expect(wrong.status).toBe(404)
      expect((await as(other, "GET", "/api/me")).status).toBe(200)

      expect((await adminDo("DELETE", `/api/admin/users/${who.id}/sessions/${phone.sessionId}`)).status).toBe(204)
      expect((await request(server.url, "GET", "/api/me", { token: phone.token })).status).toBe(401)
      expect((await as(who, "GET", "/api/me")).status).toBe(200)
      const after = await adminDo("GET", `/api/admin/users/${who.id}/sessions`)
      expect(after.body.sessions.map((s: any) => s.id).sort()).toEqual([who.sessionId, tablet.sessionId].sort())

      const all = await adminDo("DELETE", `/api/admin/users/${who.id}/sessions`)
      expect(all.status).toBe(200)
      expect(all.body).toEqual({ revoked: 2 })
      for (const token of [who.token, tablet.token]) {
        expect((await request(server.url, "GET", "/api/me", { token })).status).toBe(401)
      }
      expect(
        (await request(server.url, "POST", "/api/refresh", { body: { refresh_token: tablet.refreshToken } })).status
      ).toBe(401)
      expect((await adminDo("GET", `/api/admin/users/${who.id}/sessions`)).body.sessions).toEqual([])
      expect((await as(other, "GET", "/api/me")).status).toBe(200)
    })

    it("lists every room, private ones too, page by page, and shows a room and its members", async () => {
      const owner = await account(server.url, "own")
      const member = await account(server.url, "mem")
      const hidden = await createRoom(server.url, owner, "private")
      const open_ = await createRoom(server.url, owner)
      await joinRoom(server.url, open_, member)

      const rooms: Array<any> = []
      let cursor: string | null = null
      do {
        const page: any = await adminDo("GET", `/api/admin/rooms?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`)
        expect(page.status, JSON.stringify(page.body)).toBe(200)
        rooms.push(...page.body.rooms)
        cursor = page.body.next_cursor
      } while (cursor !== null)
      expect(rooms.map((r) => r.room_id)).toEqual(expect.arrayContaining([hidden, open_]))
      expect(new Set(rooms.map((r) => r.room_id)).size).toBe(rooms.length)
      expect(rooms.find((r) => r.room_id === hidden)).toMatchObject({
        visibility: "private",
        created_by: owner.id,
        archived: false
      })

      const shown = await adminDo("GET", `/api/admin/rooms/${hidden}`)
      expect(shown.status).toBe(200)
      expect(shown.body.room_id).toBe(hidden)
      const members = await adminDo("GET", `/api/admin/rooms/${open_}/members`)
      expect(members.status).toBe(200)
      expect(members.body.members.map((m: any) => [m.user_id, m.role]).sort()).toEqual(
        [
          [owner.id, "owner"],
          [member.id, "member"]
        ].sort()
      )
      expect((await adminDo("GET", `/api/admin/rooms/${noSuchRoom}`)).status).toBe(404)
      // A UUID that is not a TIMEUUID names no room either (and must not reach Cassandra).
      expect((await adminDo("GET", `/api/admin/rooms/${noSuchUser}/members`)).status).toBe(404)
    })

    it("an archived room keeps its history and refuses new messages, over HTTP and on sockets already open, subscribed or not", async () => {
      const owner = await account(server.url, "arc")
      const watcher = await account(server.url, "wat")
      const roomId = await createRoom(server.url, owner)
      await joinRoom(server.url, roomId, watcher)
      const sock = await open({ token: owner.token, roomId })
      const other = await open({ token: watcher.token, roomId })
      await sock.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
      await other.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
      // A send before the archive: the socket now remembers that it may post here.
      const before = await call(sock, { type: "chat.message", to: roomId, payload: { text: "before" } })
      expect(before.type).toBe("ack")
      // A socket may post without subscribing: it hears no room events, yet remembers that it may post here.
      const unsubscribed = await open({ token: watcher.token })
      const posted = await call(unsubscribed, { type: "chat.message", to: roomId, payload: { text: "unsubscribed" } })
      expect(posted.type, JSON.stringify(posted)).toBe("ack")
      await other.next((e) => e.type === "chat.message" && e.payload.text === "unsubscribed")

      const archived = await adminDo("POST", `/api/admin/rooms/${roomId}/archive`)
      expect(archived.status, JSON.stringify(archived.body)).toBe(200)
      expect(archived.body.archived).toBe(true)
      // Refused at once: the archive's node-wide news made it forget, before the archive answered.
      const refused = await call(unsubscribed, { type: "chat.message", to: roomId, payload: { text: "late" } })
      expect(refused.type, JSON.stringify(refused)).toBe("error")
      expect(refused.payload.code).toBe("forbidden")
      expect(refused.payload.message).toContain("archived")
      // The archive's broadcast and this typing event travel one channel in order: once the
      // owner's socket sees the typing, it has heard of the archive.
      await call(other, { type: "typing.start", to: roomId })
      await sock.next((e) => e.type === "typing" && e.payload.started.some((u: any) => u.user_id === watcher.id))

      const ws = await call(sock, { type: "chat.message", to: roomId, payload: { text: "after" } })
      expect(ws.type).toBe("error")
      expect(ws.payload.code).toBe("forbidden")
      expect(ws.payload.message).toContain("archived")
      const http = await as(owner, "POST", `/api/chat/rooms/${roomId}/messages`, { content: "after" })
      expect(http.status).toBe(403)
      expect(http.body.error.code).toBe("forbidden")
      expect(http.body.error.message).toContain("this room is archived")

      const history = await as(watcher, "GET", `/api/chat/rooms/${roomId}/messages`)
      expect(history.status).toBe(200)
      // Newest first.
      expect(history.body.messages.map((m: any) => m.text)).toEqual(["unsubscribed", "before"])
      expect((await as(owner, "GET", `/api/chat/rooms/${roomId}`)).body.archived).toBe(true)
      expect((await adminDo("GET", `/api/admin/rooms/${roomId}`)).body.archived).toBe(true)
      await barrier(sock)
      expect(other.messages(roomId).map((e) => e.payload.text)).toEqual(["before", "unsubscribed"])
      expect((await adminDo("POST", `/api/admin/rooms/${noSuchRoom}/archive`)).status).toBe(404)
    })

    it("deleting a room ends its subscriptions with an error naming it, and the room is gone", async () => {
      const owner = await account(server.url, "del")
      const roomId = await createRoom(server.url, owner)
      const keep = await createRoom(server.url, owner)
      const sock = await open({ token: owner.token, roomId })
      await sock.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
      expect((await call(sock, { type: "channel.subscribe", to: keep })).type).toBe("ack")
      await as(owner, "POST", `/api/chat/rooms/${roomId}/messages`, { content: "doomed" })

      const deleted = await adminDo("DELETE", `/api/admin/rooms/${roomId}`)
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(204)
      const ended = await sock.next((e) => e.type === "error" && e.payload.room_id === roomId)
      expect(ended.payload.code).toBe("forbidden")
      expect(ended.payload.message).toContain("deleted")

      expect((await as(owner, "GET", `/api/chat/rooms/${roomId}`)).status).toBe(404)
      expect((await as(owner, "GET", `/api/chat/rooms/${roomId}/messages`)).status).toBe(404)
      expect((await adminDo("GET", `/api/admin/rooms/${roomId}`)).status).toBe(404)
      const listed = (await as(owner, "GET", "/api/chat/rooms")).body.rooms.map((r: any) => r.room_id)
      expect(listed).toContain(keep)
      expect(listed).not.toContain(roomId)
      // The socket's other subscription lives on.
      await as(owner, "POST", `/api/chat/rooms/${keep}/messages`, { content: "still here" })
      await sock.next((e) => e.type === "chat.message" && e.payload.room_id === keep)
      expect((await adminDo("DELETE", `/api/admin/rooms/${roomId}`)).status).toBe(404)
    })

    it(`counts users, rooms, messages stored today and sockets open now${options.twoNodes ? " on every node" : ""}`, async () => {
      const stats = async () => {
        const res = await adminDo("GET", "/api/admin/stats")
        expect(res.status, JSON.stringify(res.body)).toBe(200)
        return res.body
      }
      const before = await stats()
      const who = await account(server.url, "sta")
      const roomId = await createRoom(server.url, who)
      for (const content of ["one", "two"]) {
        expect((await as(who, "POST", `/api/chat/rooms/${roomId}/messages`, { content })).status).toBe(201)
      }
      const opened = [
        await open({ token: who.token }),
        await open({ token: who.token }, other),
        await open({ token: admin.token }, other)
      ]
      const during = await stats()
      expect(during.users).toBe(before.users + 1)
      expect(during.rooms).toBe(before.rooms + 1)
      // Cassandra updates the per-day counter in the background, after the ack: wait for it.
      await eventually(async () => expect((await stats()).messages_today).toBe(before.messages_today + 2))
      // With Redis, each node publishes its count when it changes: wait for it, not for a timer.
      await eventually(async () => expect((await stats()).sockets_connected).toBe(before.sockets_connected + 3))
      for (const sock of opened) sock.close()
      await Promise.all(opened.map((sock) => sock.closed))
      await eventually(async () => expect((await stats()).sockets_connected).toBe(before.sockets_connected))
      expect((await adminDo("DELETE", `/api/admin/rooms/${roomId}`)).status).toBe(204)
      expect((await stats()).rooms).toBe(before.rooms)
    })

    it("records every change in the audit log: who, what, to whom, when and the request id, newest first", async () => {
      const started = Date.now()
      const who = await account(server.url, "aud")
      const roomId = await createRoom(server.url, who)
      const gone = await createRoom(server.url, who)
      const expected: Array<[action: string, targetType: string, targetId: string, requestId: string]> = []
      const act = async (method: string, path: string, target: [string, string, string], body?: unknown) => {
        const requestId = `audit-${uniqueName()}`
        const res = await adminDo(method, path, { requestId, ...(body === undefined ? {} : { body }) })
        expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300)
        expect(res.headers.get("x-request-id")).toBe(requestId)
        expected.push([...target, requestId])
      }
      await act("POST", `/api/admin/users/${who.id}/disable`, ["user.disable", "user", who.id])
      await act("POST", `/api/admin/users/${who.id}/enable`, ["user.enable", "user", who.id])
      await act("PUT", `/api/admin/users/${who.id}/role`, ["user.set_role", "user", who.id], { role: "admin" })
      const fresh = await login(server.url, who.username)
      await act("DELETE", `/api/admin/users/${who.id}/sessions/${fresh.sessionId}`, [
        "session.revoke",
        "session",
        fresh.sessionId
      ])
      await act("DELETE", `/api/admin/users/${who.id}/sessions`, ["session.revoke_all", "user", who.id])
      await act("POST", `/api/admin/rooms/${roomId}/archive`, ["room.archive", "room", roomId])
      await act("DELETE", `/api/admin/rooms/${gone}`, ["room.delete", "room", gone])
      // Reads and refusals are not changes: none of them is recorded.
      await adminDo("GET", `/api/admin/users/${who.id}`, { requestId: "audit-read" })
      await as(who, "POST", `/api/admin/users/${admin.id}/disable`)

      const page = await adminDo("GET", `/api/admin/audit?limit=${expected.length}`)
      expect(page.status).toBe(200)
      const entries = [...page.body.entries].reverse()
      expect(entries.map((e: any) => [e.action, e.target_type, e.target_id, e.request_id])).toEqual(expected)
      for (const entry of entries) {
        expect(entry.actor_id).toBe(admin.id)
        expect(entry.actor).toBe(admin.username)
        expect(Date.parse(entry.at)).toBeGreaterThanOrEqual(started - 1000)
        expect(Date.parse(entry.at)).toBeLessThanOrEqual(Date.now() + 1000)
      }
      expect(entries.find((e: any) => e.action === "user.set_role").detail).toContain("role=admin")
      // Newest first, and `before` pages on to older entries without repeating any.
      const ids = page.body.entries.map((e: any) => e.id)
      const older = await adminDo("GET", `/api/admin/audit?limit=3&before=${page.body.next_cursor}`)
      expect(page.body.next_cursor).toBe(ids[ids.length - 1])
      for (const entry of older.body.entries) expect(ids).not.toContain(entry.id)
      const all = await adminDo("GET", "/api/admin/audit?limit=100")
      expect(all.body.entries.map((e: any) => e.request_id)).not.toContain("audit-read")
    })
  })
