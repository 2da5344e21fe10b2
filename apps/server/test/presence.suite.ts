/**
 * Presence and typing end to end, on real servers (two nodes on Cassandra + Redis): the
 * online list on subscribe is the first page and the count, `presence.list` pages through the
 * rest; changes are per user (a second tab, on either node, changes nothing); a room above
 * the diff limit gets counts only; typing is for members only, and start/stop share one
 * throttle.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Backend, type RunningServer, startAnotherNode, startServer } from "./support/server.ts"
import { type Account, account, connect, createRoom, joinRoom, type TestSocket } from "./support/ws.ts"
import { applyPresence, barrier, call, presenceIs } from "./ws.suite.ts"

const settings = {
  PRESENCE_WINDOW: "50 millis",
  PRESENCE_PAGE_SIZE: "2",
  PRESENCE_DIFF_LIMIT: "3",
  // Longer than any test: nothing throttled goes out late and muddles a count.
  TYPING_INTERVAL: "10 minutes",
  RATE_MESSAGES_PER_USER: "100000"
}

const view = (who: Account) => ({ user_id: who.id, username: who.username })

export const presenceSuite = (backend: Backend, options: { readonly twoNodes: boolean }) =>
  describe(`Presence and typing (${backend.name}${options.twoNodes ? ", two nodes" : ""})`, () => {
    let a: RunningServer
    let b: RunningServer
    const sockets: Array<TestSocket> = []
    /** Alternates nodes when there are two, so most tests cross them. */
    let turn = 0
    const open = async (who: Account, roomId?: string, server?: RunningServer) => {
      const node = server ?? (turn++ % 2 === 0 ? a : b)
      const sock = await connect(node.url, { token: who.token, ...(roomId === undefined ? {} : { roomId }) })
      sockets.push(sock)
      if (roomId !== undefined) await sock.next((e) => e.type === "presence" && e.id === undefined)
      return sock
    }

    beforeAll(async () => {
      a = await startServer(backend, settings)
      b = options.twoNodes ? await startAnotherNode(backend, a, settings) : a
    })
    afterAll(async () => {
      for (const sock of sockets) sock.ws.terminate()
      if (b !== a) await b?.stop()
      await a?.stop()
    })

    it("on subscribe: the first page of who is online and the count; presence.list pages through the rest", async () => {
      const owner = await account(a.url, "p")
      const roomId = await createRoom(a.url, owner)
      const others = [await account(a.url, "p"), await account(a.url, "p"), await account(a.url, "p")]
      for (const who of others) await open(who, roomId)
      const sock = await open(owner, roomId)
      const first = sock.events.find((e) => e.type === "presence")
      const everyone = [owner, ...others].map(view).sort((x, y) => (x.username < y.username ? -1 : 1))
      expect(first.payload.count).toBe(4)
      expect(first.payload.online).toEqual(everyone.slice(0, 2))
      const second = await call(sock, { type: "presence.list", to: roomId, cursor: first.payload.next_cursor })
      expect(second).toEqual({
        type: "presence",
        id: second.id,
        payload: { room_id: roomId, online: everyone.slice(2), count: 4 }
      })
      // Without a cursor: the first page again.
      expect((await call(sock, { type: "presence.list", to: roomId })).payload.online).toEqual(everyone.slice(0, 2))
      // A cursor it was not given, and a room it does not listen to, are refused.
      const forged = await call(sock, { type: "presence.list", to: roomId, cursor: "bm90IGEgY3Vyc29y" })
      expect(forged.payload.code).toBe("invalid_event")
      const elsewhere = await createRoom(a.url, owner)
      expect((await call(sock, { type: "presence.list", to: elsewhere })).payload.code).toBe("forbidden")
    })

    it("a user's second tab, on another node, changes nothing; the last tab out sends one left", async () => {
      const owner = await account(a.url, "w")
      const ada = await account(a.url, "ada")
      const cue = await account(a.url, "cue")
      const roomId = await createRoom(a.url, owner)
      const watcher = await open(owner, roomId, a)
      const tab1 = await open(ada, roomId, a)
      await presenceIs(watcher, roomId, [owner.id, ada.id])
      const tab2 = await open(ada, roomId, b)
      // The next news the watcher gets is Cue's arrival, with Ada still online once.
      await open(cue, roomId, b)
      await presenceIs(watcher, roomId, [owner.id, ada.id, cue.id])
      tab1.close()
      await tab1.closed
      tab2.close()
      await presenceIs(watcher, roomId, [owner.id, cue.id])
      const about = (list: string) =>
        watcher.events.filter(
          (e) => e.type === "presence.diff" && e.payload[list].some((u: any) => u.user_id === ada.id)
        )
      expect(about("joined")).toHaveLength(1)
      expect(about("left")).toHaveLength(1)
      expect(about("left")[0].payload).toEqual({ room_id: roomId, joined: [], left: [view(ada)], count: 2 })
    })

    it("above the diff limit, only the count goes out; at or under it, who joined and left", async () => {
      const owner = await account(a.url, "big")
      const roomId = await createRoom(a.url, owner)
      const watcher = await open(owner, roomId)
      const users = [await account(a.url, "big"), await account(a.url, "big"), await account(a.url, "big")]
      const tabs: Array<TestSocket> = []
      for (const who of users.slice(0, 2)) tabs.push(await open(who, roomId))
      await presenceIs(watcher, roomId, [owner.id, users[0]!.id, users[1]!.id])
      const mark = watcher.events.length
      tabs.push(await open(users[2]!, roomId))
      const count = await watcher.next((e) => e.type === "presence.count" && watcher.events.indexOf(e) >= mark)
      expect(count.payload).toEqual({ room_id: roomId, count: 4 })
      // The fourth user's name never went out.
      expect(JSON.stringify(watcher.events.slice(mark))).not.toContain(users[2]!.username)
      // Back at the limit: per-user changes again.
      tabs[2]!.close()
      const left = await watcher.next((e) => e.type === "presence.diff" && watcher.events.indexOf(e) >= mark)
      expect(left.payload).toEqual({ room_id: roomId, joined: [], left: [view(users[2]!)], count: 3 })
    })

    it("typing: members only; a subscriber of a public room who has not joined gets not_member", async () => {
      const owner = await account(a.url, "t")
      const outsider = await account(a.url, "t")
      const roomId = await createRoom(a.url, owner)
      const watcher = await open(owner, roomId)
      const sock = await open(outsider, roomId)
      const refused = await call(sock, { type: "typing.start", to: roomId })
      expect(refused.type).toBe("error")
      expect(refused.payload.code).toBe("not_member")
      // Having joined, the same socket may type: the watcher sees it.
      await joinRoom(a.url, roomId, outsider)
      expect((await call(sock, { type: "typing.start", to: roomId })).type).toBe("ack")
      const typing = await watcher.next((e) => e.type === "typing")
      expect(typing.payload).toEqual({ room_id: roomId, started: [view(outsider)], stopped: [] })
      await barrier(sock)
      expect(sock.events.filter((e) => e.type === "typing")).toEqual([])
    })

    it("typing: 280 stop/start pairs inside the interval pass as one frame; leaving ends it at once", async () => {
      const owner = await account(a.url, "thr")
      const typist = await account(a.url, "thr")
      const roomId = await createRoom(a.url, owner)
      await joinRoom(a.url, roomId, typist)
      const watcher = await open(owner, roomId)
      const sock = await open(typist, roomId)
      sock.send({ type: "typing.start", to: roomId })
      // In batches that fit the connection's inbound queue (256 frames), so none is refused.
      for (let batch = 0; batch < 4; batch++) {
        for (let i = 0; i < 70; i++) {
          sock.send({ type: "typing.stop", to: roomId })
          sock.send({ type: "typing.start", to: roomId })
        }
        await barrier(sock)
      }
      sock.send({ type: "typing.stop", to: roomId })
      await barrier(sock)
      expect(sock.events.filter((e) => e.type === "error")).toEqual([])
      // The start has gone out (a start and stop inside one window would go out as the stop alone).
      await watcher.next((e) => e.type === "typing" && e.payload.started.length > 0)
      // Still shown as typing (the stop waits for the interval); closing ends it now.
      sock.close()
      await watcher.next((e) => e.type === "typing" && e.payload.stopped.length > 0)
      expect(watcher.events.filter((e) => e.type === "typing").map((e) => e.payload)).toEqual([
        { room_id: roomId, started: [view(typist)], stopped: [] },
        { room_id: roomId, started: [], stopped: [view(typist)] }
      ])
    })

    it("what a client folds from the list and the diffs matches what presence.list says", async () => {
      const owner = await account(a.url, "fold")
      const roomId = await createRoom(a.url, owner)
      const watcher = await open(owner, roomId)
      const people = [await account(a.url, "fold"), await account(a.url, "fold")]
      const tabs = [await open(people[0]!, roomId), await open(people[1]!, roomId)]
      tabs[0]!.close()
      await presenceIs(watcher, roomId, [owner.id, people[1]!.id])
      const folded = new Set<string>()
      for (const e of watcher.events) applyPresence(folded, e, roomId)
      const listed = await call(watcher, { type: "presence.list", to: roomId })
      expect(listed.payload.online.map((u: any) => u.user_id).sort()).toEqual([...folded].sort())
      expect(listed.payload.count).toBe(folded.size)
    })
  })
