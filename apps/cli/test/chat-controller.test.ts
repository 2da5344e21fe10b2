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
      'search "deploy": 2 messages, newest first',
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

  it("the room list shows the server's unread counts; a marker moved elsewhere updates them, never backwards", async () => {
    const t = setup(3)
    t.api.joined[0] = makeRoom("general", { unread: 3, read_seq: 0 })
    t.api.history.set(t.api.joined[0]!.room_id, t.api.history.get(t.room.room_id)!)
    const quiet = makeRoom("quiet", { unread: 0, read_seq: 7 })
    t.api.joined.push(quiet)
    t.api.directory.push(makeRoom("lobby", { unread: 0, read_seq: 0 }))
    t.controller.start()
    await settle(() => t.controller.getState().rooms.entries.length === 3)
    const counts = () => t.controller.getState().rooms.entries.map((e) => [e.room.name, e.unread])
    expect(counts()).toEqual([
      ["general", 3],
      ["quiet", 0],
      ["lobby", 0]
    ])
    // No request per room: the counts came with the list.
    expect(t.api.historyCalls).toBe(0)

    // Another session of ours read general up to 2; then an older report (1) arrives late.
    const general = t.api.joined[0]!.room_id
    t.connection.open()
    t.connection.deliver(serverEvent({ type: "read.marker", payload: { room_id: general, seq: 2, unread: 1 } }))
    t.connection.deliver(serverEvent({ type: "read.marker", payload: { room_id: general, seq: 1, unread: 2 } }))
    expect(counts()[0]).toEqual(["general", 1])
    t.connection.deliver(serverEvent({ type: "read.marker", payload: { room_id: general, seq: 3, unread: 0 } }))
    expect(counts()[0]).toEqual(["general", 0])
  })

  it("opening a room reports it read up to its newest entry (read.mark), once; what arrives later when it closes", async () => {
    const t = setup(3)
    t.api.joined[0] = makeRoom("general", { unread: 3, read_seq: 1 })
    t.api.history.set(t.api.joined[0]!.room_id, t.api.history.get(t.room.room_id)!)
    const general = t.api.joined[0]!
    t.controller.start("general")
    await settle(() => t.controller.getState().room !== null)
    // Offline: nothing yet; the connection opens and the room is reported read up to seq 3.
    expect(t.connection.ofType("read.mark")).toEqual([])
    t.connection.open()
    expect(t.connection.ofType("read.mark").map((f) => [f.to, f.payload.seq])).toEqual([[general.room_id, 3]])
    // Its ack moves the count; a reconnect does not report the same seq again.
    const [mark] = t.connection.ofType("read.mark")
    t.connection.deliver(
      serverEvent({
        type: "ack",
        id: mark!.id,
        payload: { of: "read.mark", room_id: general.room_id, seq: 3, unread: 0 }
      })
    )
    t.connection.drop()
    t.connection.open()
    expect(t.connection.ofType("read.mark")).toHaveLength(1)

    // A message arrives while the room is open; leaving the room reports it read at once.
    t.connection.deliver(chatEvent(makeMessage(general, 4, bob, "m4")))
    t.controller.submit("/rooms")
    await settle(() => t.controller.getState().screen === "rooms")
    expect(t.connection.ofType("read.mark").map((f) => f.payload.seq)).toEqual([3, 4])
  })

  it("/dm opens the direct room with a user, made the first time and the same one after, named @user", async () => {
    const t = await opened()
    t.controller.submit("/dm @carol")
    await settle(() => t.controller.getState().room?.kind === "direct")
    const direct = t.controller.getState().room!
    expect(direct).toMatchObject({ name: "carol", peer: { username: "carol" } })
    expect(t.connection.ofType("channel.resume").map((f) => f.to)).toContain(direct.room_id)
    expect(t.controller.getState().log.at(-1)).toMatchObject({ kind: "room", name: "@carol" })

    t.controller.submit("/join general")
    await settle(() => t.controller.getState().room?.name === "general")
    t.controller.submit("/dm carol")
    await settle(() => t.controller.getState().room?.kind === "direct")
    expect(t.controller.getState().room?.room_id).toBe(direct.room_id)
    expect(t.api.direct.size).toBe(1)

    t.controller.submit("/who")
    await settle(() => t.controller.getState().log.at(-1)?.kind === "system")
    expect(t.controller.getState().log.at(-1)).toMatchObject({ text: "nobody is online here (yet)" })
  })

  it("parley --room @carol starts in the direct room with carol", async () => {
    const t = makeController()
    t.controller.start("@carol")
    await settle(() => t.controller.getState().room !== null)
    expect(t.controller.getState().room).toMatchObject({ kind: "direct", name: "carol" })
    expect(t.api.direct.size).toBe(1)
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
