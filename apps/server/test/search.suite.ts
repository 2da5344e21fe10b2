/**
 * Message search against a real server (issue 12 §4), over HTTP and WebSocket: words, order,
 * paging, and above all who sees what: a result only ever comes from a room the caller may
 * read. Called once per backend by `search-*.integration.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Reply, request, uniqueName } from "./support/http.ts"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"
import { type Account, account, connect, createRoom, joinRoom, postMessage } from "./support/ws.ts"

interface Result {
  readonly room_id: string
  readonly msg_id: string
  readonly kind: string
  readonly username: string
  readonly text: string
}
interface SearchPage {
  readonly results: Array<Result>
  readonly next_cursor: string | null
}

/** A word no other test writes, so every hit of it is this test's. */
const word = (prefix: string) => uniqueName(prefix).replaceAll(/[^a-z0-9]/gi, "")

const expectError = (res: Reply, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status)
  expect(res.body?.error?.code, JSON.stringify(res.body)).toBe(code)
}

export const searchSuite = (backend: Backend) =>
  describe(`message search (${backend.name})`, () => {
    let server: RunningServer

    const post = (who: Account, roomId: string, content: string) =>
      postMessage<Result>(server.url, who, roomId, content)
    const search = (who: Account, query: Record<string, string>) =>
      request<SearchPage>(server.url, "GET", `/api/chat/search?${new URLSearchParams(query)}`, { token: who.token })
    const found = async (who: Account, query: Record<string, string>) => {
      const res = await search(who, query)
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      return res.body.results.map((r) => r.text)
    }

    /** Searches per user per minute on this server; every test but the limit's stays well under it. */
    const searchesPerMinute = 20

    beforeAll(async () => {
      server = await startServer(backend, { RATE_SEARCHES_PER_USER: String(searchesPerMinute) })
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("finds messages holding every word, newest first, paged by next_cursor", async () => {
      const alice = await account(server.url, "sa")
      const room = await createRoom(server.url, alice)
      const [w, other] = [word("pw"), word("po")]
      for (const text of [`${w} one`, `${other} two`, `${w.toUpperCase()} ${other} three`, `four ${w}!`]) {
        await post(alice, room, text)
      }
      expect(await found(alice, { q: w })).toEqual([`four ${w}!`, `${w.toUpperCase()} ${other} three`, `${w} one`])
      expect(await found(alice, { q: `${other} ${w}` })).toEqual([`${w.toUpperCase()} ${other} three`])

      const first = await search(alice, { q: w, limit: "2" })
      expect(first.status).toBe(200)
      expect(first.body.results.map((r) => r.text)).toEqual([`four ${w}!`, `${w.toUpperCase()} ${other} three`])
      expect(first.body.results[0]).toMatchObject({ room_id: room, kind: "message", username: alice.username })
      expect(first.body.next_cursor).toBe(first.body.results[1]!.msg_id)
      const second = await search(alice, { q: w, limit: "2", before: first.body.next_cursor! })
      expect(second.body).toMatchObject({ results: [{ text: `${w} one` }], next_cursor: null })
    })

    it("searches only rooms the caller may read: joined ones, or one readable room; 404 for a private room of others", async () => {
      const [alice, bob] = [await account(server.url, "sa"), await account(server.url, "sb")]
      const w = word("auth")
      const alicesPrivate = await createRoom(server.url, alice, "private")
      const bobsPrivate = await createRoom(server.url, bob, "private")
      const bobsPublic = await createRoom(server.url, bob, "public")
      const shared = await createRoom(server.url, bob, "public")
      await joinRoom(server.url, shared, alice)
      await post(alice, alicesPrivate, `${w} alice private`)
      await post(bob, bobsPrivate, `${w} bob private`)
      await post(bob, bobsPublic, `${w} bob public`)
      await post(bob, shared, `${w} shared`)

      // Without room_id: the rooms each has joined, and nothing else.
      expect(await found(alice, { q: w })).toEqual([`${w} shared`, `${w} alice private`])
      expect(await found(bob, { q: w })).toEqual([`${w} shared`, `${w} bob public`, `${w} bob private`])
      // A public room is readable without joining it; a private one of others does not exist.
      expect(await found(alice, { q: w, room_id: bobsPublic })).toEqual([`${w} bob public`])
      expectError(await search(alice, { q: w, room_id: bobsPrivate }), 404, "not_found")
      expectError(await search(bob, { q: w, room_id: alicesPrivate }), 404, "not_found")

      // Removed from a private room: its messages are no longer found.
      const res = await request(server.url, "PUT", `/api/chat/rooms/${bobsPrivate}/members/${alice.id}`, {
        token: bob.token,
        body: {}
      })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      expect(await found(alice, { q: w, room_id: bobsPrivate })).toEqual([`${w} bob private`])
      expect(await found(alice, { q: w })).toEqual([`${w} shared`, `${w} bob private`, `${w} alice private`])
      const removed = await request(server.url, "DELETE", `/api/chat/rooms/${bobsPrivate}/members/${alice.id}`, {
        token: bob.token
      })
      expect(removed.status).toBe(204)
      expect(await found(alice, { q: w })).toEqual([`${w} shared`, `${w} alice private`])
      expectError(await search(alice, { q: w, room_id: bobsPrivate }), 404, "not_found")
    })

    it("refuses a query without a word, a bad limit or cursor (400), and an anonymous caller (401)", async () => {
      const alice = await account(server.url, "sa")
      for (const q of ["", "   ", "!?…", "-- --"]) expectError(await search(alice, { q }), 400, "invalid_request")
      expectError(await search(alice, {}), 400, "invalid_request")
      // Past the schema but without a letter or digit: no word, so nothing holds them all.
      expect(await found(alice, { q: "😀" })).toEqual([])
      expectError(await search(alice, { q: "x".repeat(201) }), 400, "invalid_request")
      expectError(await search(alice, { q: "hello", limit: "0" }), 400, "invalid_request")
      expectError(await search(alice, { q: "hello", before: "not-an-id" }), 400, "invalid_request")
      const anonymous = await request(server.url, "GET", "/api/chat/search?q=hello")
      expect(anonymous.status).toBe(401)
    })

    it("limits searches per user over HTTP and WebSocket together (429 with Retry-After, rate_limited)", async () => {
      const [carol, dave] = [await account(server.url, "sc"), await account(server.url, "sd")]
      const socket = await connect(server.url, { token: carol.token })
      try {
        for (let i = 0; i < searchesPerMinute - 1; i++) expect((await search(carol, { q: `w${i}` })).status).toBe(200)
        socket.send({ type: "chat.search", id: "last", payload: { q: "hello" } })
        expect(await socket.next((e) => e.id === "last")).toMatchObject({ type: "search.results" })
        socket.send({ type: "chat.search", id: "over", payload: { q: "hello" } })
        expect(await socket.next((e) => e.id === "over")).toMatchObject({
          type: "error",
          payload: { code: "rate_limited", message: expect.stringMatching(/^too many searches; retry in \d+ s$/) }
        })
        const refused = await search(carol, { q: "hello" })
        expectError(refused, 429, "rate_limited")
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0)
        // Per user: another one is not held back.
        expect((await search(dave, { q: "hello" })).status).toBe(200)
      } finally {
        socket.close()
      }
    })

    it("answers chat.search over WebSocket with search.results, and refuses unreadable rooms and blank queries", async () => {
      const [alice, bob] = [await account(server.url, "sa"), await account(server.url, "sb")]
      const w = word("ws")
      const room = await createRoom(server.url, alice)
      const hidden = await createRoom(server.url, bob, "private")
      await post(alice, room, `hello ${w}`)
      await post(bob, hidden, `secret ${w}`)
      const socket = await connect(server.url, { token: alice.token })
      try {
        socket.send({ type: "chat.search", id: "s1", payload: { q: w } })
        const results = await socket.next((e) => e.id === "s1")
        expect(results).toMatchObject({
          type: "search.results",
          id: "s1",
          payload: { results: [{ room_id: room, text: `hello ${w}` }], next_cursor: null }
        })
        socket.send({ type: "chat.search", id: "s2", payload: { q: w, room_id: hidden, limit: 5 } })
        expect(await socket.next((e) => e.id === "s2")).toMatchObject({ type: "error", payload: { code: "forbidden" } })
        socket.send({ type: "chat.search", id: "s3", payload: { q: " ... " } })
        expect(await socket.next((e) => e.id === "s3")).toMatchObject({
          type: "error",
          payload: { code: "invalid_event" }
        })
      } finally {
        socket.close()
      }
    })
  })
