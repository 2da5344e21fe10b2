import { describe, expect, it } from "vitest"
import { apiError, fakeIo, runWith, sampleUser, stubServers } from "./admin-fakes.ts"

const roomId = "5b6e8a10-d5f1-11f0-8000-0242ac120002"
const room = {
  room_id: roomId,
  name: "general",
  visibility: "public",
  created_by: "0b7c5d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
  created_at: "2026-12-01T10:22:03.512Z",
  archived: false,
  kind: "room"
}
const noRoom = apiError(404, "not_found", "room not found")

const serve = stubServers()

const asked = (stub: { readonly requests: ReadonlyArray<{ method: string; path: string }> }) =>
  stub.requests.map((r) => `${r.method} ${r.path}`)

describe("rooms delete", () => {
  it("reads the room, deletes it and names it", async () => {
    const stub = await serve((r) => (r.method === "GET" ? { status: 200, body: room } : { status: 204 }))
    const recorded = fakeIo()
    expect(await runWith(recorded, "--server", stub.url, "--token", "t", "rooms", "delete", roomId, "--yes")).toBe(0)
    expect(asked(stub)).toEqual([`GET /api/admin/rooms/${roomId}`, `DELETE /api/admin/rooms/${roomId}`])
    expect(recorded.out()).toBe(`Deleted room general (${roomId}).\n`)
  })

  it("with --yes, a room that reads as gone (a delete stopped halfway) is still sent the DELETE that finishes it", async () => {
    const stub = await serve((r) => (r.method === "GET" ? noRoom : { status: 204 }))
    const recorded = fakeIo()
    expect(await runWith(recorded, "--server", stub.url, "--token", "t", "rooms", "delete", roomId, "--yes")).toBe(0)
    expect(asked(stub)).toEqual([`GET /api/admin/rooms/${roomId}`, `DELETE /api/admin/rooms/${roomId}`])
    expect(recorded.out()).toBe(`Deleted room ${roomId}.\n`)
    expect(recorded.err()).toBe("")
  })

  it("with --yes, a room with nothing left to delete exits 5 on the DELETE's own 404", async () => {
    const stub = await serve(() => noRoom)
    const recorded = fakeIo()
    expect(await runWith(recorded, "--server", stub.url, "--token", "t", "rooms", "delete", roomId, "--yes")).toBe(5)
    expect(asked(stub)).toEqual([`GET /api/admin/rooms/${roomId}`, `DELETE /api/admin/rooms/${roomId}`])
    expect(recorded.err()).toBe("parley-admin: error: room not found [404 not_found]\n")
    expect(recorded.out()).toBe("")
  })

  it("without --yes, a room that reads as gone exits 5 without asking or deleting", async () => {
    const stub = await serve(() => noRoom)
    const recorded = fakeIo()
    const onTerminal = { ...recorded, io: { ...recorded.io, stdinIsTTY: true } }
    expect(await runWith(onTerminal, "--server", stub.url, "--token", "t", "rooms", "delete", roomId)).toBe(5)
    expect(asked(stub)).toEqual([`GET /api/admin/rooms/${roomId}`])
  })

  it("with --yes, any other failure of the read stops before the DELETE", async () => {
    const stub = await serve(() => apiError(403, "forbidden", "admins only"))
    const recorded = fakeIo()
    expect(await runWith(recorded, "--server", stub.url, "--token", "t", "rooms", "delete", roomId, "--yes")).toBe(4)
    expect(asked(stub)).toEqual([`GET /api/admin/rooms/${roomId}`])
  })
})

describe("list --all", () => {
  /** A server holding `items` under `key`, two to a page, each cursor the last item's name. */
  const paged = <A>(key: "users" | "rooms", items: ReadonlyArray<A>, name: (item: A) => string) =>
    serve((r) => {
      const after = r.query.get("cursor")
      const start = after === null ? 0 : items.findIndex((i) => name(i) === after) + 1
      const page = items.slice(start, start + 2)
      const last = start + 2 >= items.length
      const end = page.at(-1)
      return { status: 200, body: { [key]: page, next_cursor: last || end === undefined ? null : name(end) } }
    })

  const users = ["ann", "bob", "cat", "dan", "eve", "fay"].map((username, i) =>
    sampleUser({ id: `0b7c5d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0${i}`, username })
  )
  const rooms = ["r1", "r2", "r3"].map((name, i) => ({ ...room, room_id: roomId.replace(/2$/, String(i)), name }))

  it("users list --all fetches every page from --cursor on, keeping the query, and joins them", async () => {
    const stub = await paged("users", users, (u) => String(u.username))
    const recorded = fakeIo()
    const argv = ["users", "list", "--all", "--json", "-q", "a", "--limit", "2", "--cursor", "ann"]
    expect(await runWith(recorded, "--server", stub.url, "--token", "t", ...argv)).toBe(0)
    const list = JSON.parse(recorded.out())
    expect(list.users.map((u: { username: string }) => u.username)).toEqual(["bob", "cat", "dan", "eve", "fay"])
    expect(list.next_cursor).toBeNull()
    expect(stub.requests.map((r) => r.query.get("cursor"))).toEqual(["ann", "cat", "eve"])
    expect(stub.requests.every((r) => r.query.get("q") === "a" && r.query.get("limit") === "2")).toBe(true)
  })

  it("rooms list --all joins every page; without --all one page and how to get the next", async () => {
    const stub = await paged("rooms", rooms, (r) => r.name)
    const all = fakeIo()
    expect(await runWith(all, "--server", stub.url, "--token", "t", "rooms", "list", "--all", "--json")).toBe(0)
    expect(JSON.parse(all.out()).rooms.map((r: { name: string }) => r.name)).toEqual(["r1", "r2", "r3"])
    expect(stub.requests).toHaveLength(2)

    const one = fakeIo()
    expect(await runWith(one, "--server", stub.url, "--token", "t", "rooms", "list")).toBe(0)
    expect(one.out()).toContain("r2")
    expect(one.out()).not.toContain("r3")
    expect(one.out()).toMatch(/\nMore: --cursor r2 \(or --all\)\n$/)
  })

  it("rooms list and show mark a direct room as direct", async () => {
    const direct = {
      ...room,
      room_id: "6c7f9b20-d5f1-11f0-8000-0242ac120002",
      name: "alice, bob",
      visibility: "private",
      kind: "direct"
    }
    const stub = await serve((r) =>
      r.path.endsWith("/rooms")
        ? { status: 200, body: { rooms: [room, direct], next_cursor: null } }
        : r.path.endsWith("/members")
          ? { status: 200, body: { members: [], next_cursor: null } }
          : { status: 200, body: direct }
    )
    const listed = fakeIo()
    expect(await runWith(listed, "--server", stub.url, "--token", "t", "rooms", "list")).toBe(0)
    const lines = listed.out().split("\n")
    expect(lines[0]).toMatch(/^ID\s+NAME\s+KIND\s+VISIBILITY/)
    expect(lines.find((line) => line.includes("alice, bob"))).toMatch(/alice, bob\s+direct\s+private/)
    expect(lines.find((line) => line.includes("general"))).toMatch(/general\s+room\s+public/)
    const shown = fakeIo()
    expect(await runWith(shown, "--server", stub.url, "--token", "t", "rooms", "show", direct.room_id)).toBe(0)
    expect(shown.out()).toMatch(/kind:\s+direct \(two users, fixed members\)/)
  })

  it("a server answering a cursor with itself fails instead of looping", async () => {
    const stub = await serve(() => ({ status: 200, body: { rooms: [room], next_cursor: "same" } }))
    const recorded = fakeIo()
    const argv = ["rooms", "list", "--all", "--cursor", "same"]
    expect(await runWith(recorded, "--server", stub.url, "--token", "t", ...argv)).toBe(1)
    expect(recorded.err()).toBe("parley-admin: error: the server answered the cursor same with itself\n")
    expect(stub.requests).toHaveLength(1)
  })
})
