import { afterEach, describe, expect, it } from "vitest"
import { apiError, fakeIo, runWith, type StubHandler, stubServer } from "./admin-fakes.ts"

const roomId = "5b6e8a10-d5f1-11f0-8000-0242ac120002"
const room = {
  room_id: roomId,
  name: "general",
  visibility: "public",
  created_by: "0b7c5d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
  created_at: "2026-12-01T10:22:03.512Z",
  archived: false
}
const noRoom = apiError(404, "not_found", "room not found")

let close: (() => Promise<void>) | undefined
afterEach(async () => {
  await close?.()
  close = undefined
})

const serve = async (handler: StubHandler) => {
  const stub = await stubServer(handler)
  close = stub.close
  return stub
}

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
