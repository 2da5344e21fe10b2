import { describe, expect, it } from "vitest"
import { SignedOutError } from "../src/chat/auth.ts"
import { alice, bob, chatEvent, makeController, makeMessage, makeRoom, serverEvent, settle } from "./chat-fixtures.ts"

const setup = (history = 2) => {
  const room = makeRoom("general")
  const t = makeController()
  t.api.joined.push(room)
  t.api.history.set(
    room.room_id,
    Array.from({ length: history }, (_, i) => makeMessage(room, i + 1, i % 2 === 0 ? bob : alice, `m${i + 1}`))
  )
  return { ...t, room }
}

const opened = async (history = 2) => {
  const t = setup(history)
  t.controller.start("general")
  await settle(() => t.controller.getState().room !== null)
  t.connection.open()
  return t
}

describe("chat controller", () => {
  it("subscribes with channel.resume after the newest message held, again after every reconnect", async () => {
    const t = await opened()
    const m2 = t.api.history.get(t.room.room_id)![1]!
    expect(t.connection.ofType("channel.resume").map((f) => f.after)).toEqual([m2.msg_id])

    const m3 = makeMessage(t.room, 3, bob, "m3")
    t.connection.deliver(chatEvent(m3))
    t.connection.drop()
    t.connection.open()
    expect(t.connection.ofType("channel.resume").map((f) => f.after)).toEqual([m2.msg_id, m3.msg_id])
    // The replay repeats m3; it is shown once.
    t.connection.deliver(chatEvent(m3))
    expect(t.controller.getState().messages.map((m) => m.text)).toEqual(["m1", "m2", "m3"])
  })

  it("resumes an empty room from its first message, so what is posted before the subscription is not lost", async () => {
    const t = await opened(0)
    expect(t.connection.ofType("channel.subscribe")).toEqual([])
    expect(t.connection.ofType("channel.resume")).toEqual([
      expect.objectContaining({ to: t.room.room_id, after: "00000000-0000-1000-8000-000000000000" })
    ])
    // Posted between the (empty) history fetch and the subscription: the replay brings it.
    t.connection.deliver(chatEvent(makeMessage(t.room, 1, bob, "early bird")))
    expect(t.controller.getState().messages.map((m) => m.text)).toEqual(["early bird"])
  })

  it("retries a failed message under the same client_msg_id, and sends what was typed offline on reconnect", async () => {
    const t = await opened()
    t.controller.submit("hello")
    const [first] = t.connection.ofType("chat.message")
    expect(first).toMatchObject({ id: "c-1", payload: { text: "hello", client_msg_id: "c-1" } })
    t.connection.deliver(
      serverEvent({ type: "error", id: "c-1", payload: { code: "service_unavailable", message: "try again" } })
    )
    expect(t.controller.getState().outgoing[0]).toMatchObject({ status: "failed" })

    t.controller.retry()
    const again = t.connection.ofType("chat.message")
    expect(again.map((f) => f.payload.client_msg_id)).toEqual(["c-1", "c-1"])

    // Lost before the ack: failed, not resent by itself. Typed while offline: sent on reconnect.
    t.connection.drop()
    t.controller.submit("typed offline")
    expect(t.controller.getState().outgoing.map((o) => [o.text, o.status])).toEqual([
      ["hello", "failed"],
      ["typed offline", "pending"]
    ])
    t.connection.open()
    expect(t.connection.ofType("chat.message").map((f) => f.payload.client_msg_id)).toEqual(["c-1", "c-1", "c-2"])
    t.controller.stop()
  })

  it("marks a message whose ack never comes as failed", async () => {
    const room = makeRoom("general")
    const t = makeController({ deps: { ackTimeoutMs: 1 } })
    t.api.joined.push(room)
    t.controller.start("general")
    await settle(() => t.controller.getState().room !== null)
    t.connection.open()
    t.controller.submit("into the void")
    await settle(() => t.controller.getState().outgoing[0]?.status === "failed", 10_000)
    expect(t.controller.getState().outgoing[0]?.error).toBe("no answer in 0 s")
    t.controller.stop()
  })

  it("sends typing.start once while typing goes on, and typing.stop when the message is sent", async () => {
    const t = await opened()
    t.controller.inputChanged("h")
    t.controller.inputChanged("he")
    t.controller.inputChanged("hel")
    expect(t.connection.ofType("typing.start")).toHaveLength(1)
    t.controller.submit("hel")
    expect(t.connection.ofType("typing.stop")).toHaveLength(1)
    // Commands are not typing.
    t.controller.inputChanged("/wh")
    expect(t.connection.ofType("typing.start")).toHaveLength(1)
    t.controller.stop()
  })

  it("/who lists the names known and asks for the next page while the room has more", async () => {
    const t = await opened()
    const room = t.room.room_id
    t.connection.deliver(
      serverEvent({ type: "presence", payload: { room_id: room, online: [alice, bob], count: 3, next_cursor: "p2" } })
    )
    await settle(() => t.controller.getState().onlineCount === 3)
    t.controller.submit("/who")
    const said = () => t.controller.getState().log.flatMap((i) => (i.kind === "system" ? [i.text] : []))
    expect(said().at(-1)).toBe("online in #general (3): alice, bob … 1 more: /who again for the next names")
    expect(t.connection.ofType("presence.list").map((f) => [f.to, f.cursor])).toEqual([[room, "p2"]])
    // Everyone known: /who asks for nothing more.
    const carol = { user_id: "0b7c2a2e-0000-4000-8000-000000000003", username: "carol" }
    const id = t.connection.ofType("presence.list")[0]!.id
    t.connection.deliver(serverEvent({ type: "presence", id, payload: { room_id: room, online: [carol], count: 3 } }))
    await settle(() => t.controller.getState().online.length === 3)
    t.controller.submit("/who")
    expect(said().at(-1)).toBe("online in #general (3): alice, bob, carol")
    expect(t.connection.ofType("presence.list")).toHaveLength(1)
    t.controller.stop()
  })

  it("/search prints each result with its room, time, author and text; --here searches the open room only", async () => {
    const t = makeController()
    const [general, ops] = [makeRoom("general"), makeRoom("ops")]
    t.api.joined.push(general, ops)
    t.api.history.set(general.room_id, [
      makeMessage(general, 1, bob, "deploy friday"),
      makeMessage(general, 2, alice, "ok")
    ])
    t.api.history.set(ops.room_id, [makeMessage(ops, 5, alice, "Deploy done \u001b[31mred")])
    t.controller.start()
    await settle(() => t.controller.getState().rooms.entries.length === 2)
    t.connection.open()
    const said = () => t.controller.getState().log.flatMap((i) => (i.kind === "system" ? [i.text] : []))

    t.controller.submit("/search deploy")
    await settle(() => said().length >= 3)
    expect(t.api.searches).toEqual([{ words: "deploy", roomId: undefined }])
    expect(said()).toEqual([
      'search "deploy": 2 newest',
      expect.stringMatching(/^#ops {2}\d{4}-\d\d-\d\d \d\d:\d\d {2}alice: Deploy done/),
      expect.stringMatching(/^#general {2}\d{4}-\d\d-\d\d \d\d:\d\d {2}bob: deploy friday$/)
    ])

    t.controller.submit("/search --here done")
    await settle(() => t.controller.getState().notice !== null)
    expect(t.controller.getState().notice?.text).toMatch(/open a room first/)
    t.controller.submit("/join general")
    await settle(() => t.controller.getState().room?.name === "general")
    t.controller.submit("/search --here done")
    await settle(() => said().length >= 4)
    expect(t.api.searches.at(-1)).toEqual({ words: "done", roomId: general.room_id })
    expect(said().at(-1)).toBe('search "done" in #general: no messages')
    t.controller.stop()
  })

  it("joins a public room by name, and says so in one line when there is none", async () => {
    const t = await opened()
    const lounge = makeRoom("Lounge")
    t.api.directory.push(lounge)
    t.controller.submit("/join lounge")
    await settle(() => t.controller.getState().room?.name === "Lounge")
    expect(t.api.joined.map((r) => r.name)).toContain("Lounge")
    expect(t.connection.ofType("channel.unsubscribe").map((f) => f.to)).toEqual([t.room.room_id])

    t.controller.submit("/join nowhere")
    await settle(() => t.controller.getState().notice !== null)
    expect(t.controller.getState().notice?.text).toMatch(/no room "nowhere"/)
    t.controller.submit("/frobnicate")
    expect(t.controller.getState().notice?.text).toMatch(/unknown command \/frobnicate/)
  })

  it("marks rooms with messages newer than the last one seen (one's own do not count)", async () => {
    const t = setup(3)
    const mine = makeRoom("mine")
    t.api.joined.push(mine)
    t.api.history.set(mine.room_id, [makeMessage(mine, 1, alice, "I wrote this")])
    const quiet = makeRoom("quiet")
    t.api.joined.push(quiet)
    t.api.history.set(quiet.room_id, [makeMessage(quiet, 1, bob, "old")])
    t.seen.set(quiet.room_id, t.api.history.get(quiet.room_id)![0]!.msg_id)
    t.controller.start()
    await settle(() => t.controller.getState().rooms.entries.length === 3)
    expect(t.controller.getState().rooms.entries.map((e) => [e.room.name, e.unread])).toEqual([
      ["general", true],
      ["mine", false],
      ["quiet", false]
    ])
  })

  it("the room list asks at most 8 rooms at a time for their newest message", async () => {
    const t = setup(1)
    for (let i = 0; i < 19; i++) {
      const room = makeRoom(`room-${i}`)
      t.api.joined.push(room)
      t.api.history.set(room.room_id, [makeMessage(room, 1, bob, "hi")])
    }
    let inFlight = 0
    let most = 0
    const messagesBefore = t.api.messagesBefore
    t.api.messagesBefore = async (...args) => {
      most = Math.max(most, ++inFlight)
      // Let every other request that is going to start, start.
      await new Promise((resolve) => setImmediate(resolve))
      inFlight--
      return messagesBefore(...args)
    }
    t.controller.start()
    await settle(() => t.controller.getState().rooms.entries.length === 20)
    expect(most).toBe(8)
    expect(t.controller.getState().rooms.entries.every((e) => e.unread)).toBe(true)
  })

  it("shows the room list with one line of explanation when the room asked for at start does not exist", async () => {
    const t = setup()
    t.controller.start("missing")
    await settle(() => t.controller.getState().rooms.entries.length === 1)
    expect(t.controller.getState().screen).toBe("rooms")
    expect(t.controller.getState().notice?.text).toMatch(/no room "missing"/)
  })

  it("/logout exits 0 even when the server's 4003 close arrives before the logout's answer", async () => {
    const { api } = setup()
    let server: { onSignedOut: (error: SignedOutError) => void } | undefined
    // The server ends this device's socket as part of the logout, before answering it.
    const t = makeController({ api, deps: { logout: async () => server?.onSignedOut(new SignedOutError()) } })
    t.controller.start("general")
    await settle(() => t.controller.getState().room !== null)
    t.connection.open()
    server = t.connection.handlers
    t.controller.submit("/logout")
    await settle(() => t.exits.length > 0)
    expect(t.exits).toEqual([{ code: 0, message: "signed out" }])
  })

  it("ends the app with exit code 3 when the session is revoked", async () => {
    const t = await opened()
    t.connection.handlers?.onSignedOut(new SignedOutError())
    expect(t.exits).toEqual([{ code: 3, message: expect.stringMatching(/signed out \(session revoked/) }])
    expect(t.connection.closed).toBe(true)
  })
})
