import { describe, expect, it } from "vitest"
import { type Action, initialState, outgoingHere, reduce, type State, typingLine } from "../src/chat/state.ts"
import { alice, bob, chatEvent, makeMessage, makeRoom, serverEvent } from "./chat-fixtures.ts"

const room = makeRoom("general")
const other = makeRoom("other")
const run = (state: State, ...actions: Array<Action>) => actions.reduce(reduce, state)
const opened = (history = [makeMessage(room, 1, bob, "one"), makeMessage(room, 2, alice, "two")]) =>
  run(initialState(alice), { type: "room/opened", room, history })
const event = (json: unknown): Action => ({ type: "event", event: serverEvent(json), now: 1_000 })
const texts = (state: State) => state.messages.map((m) => m.text)
const logged = (state: State) => state.log.flatMap((i) => (i.kind === "message" ? [i.message.text] : []))

describe("chat state", () => {
  it("a read.mark ack heard before the room list loads still counts in it, if the list read the marker before", () => {
    const listedRoom = makeRoom("listed")
    const entry = (read_seq: number, unread: number) => ({
      room: { ...listedRoom, read_seq, unread },
      joined: true,
      unread,
      readSeq: read_seq
    })
    const general = listedRoom.room_id
    // Leaving the room sends read.mark and asks for the list; the ack comes first, the list
    // (read before the mark was stored) after it.
    const acked = run(
      initialState(alice),
      { type: "rooms/loading" },
      event({ type: "ack", id: "r1", payload: { of: "read.mark", room_id: general, seq: 5, unread: 0 } })
    )
    const listed = run(acked, { type: "rooms/loaded", entries: [entry(2, 3)] })
    expect(listed.rooms.entries.map((e) => [e.readSeq, e.unread])).toEqual([[5, 0]])
    // A list that read the marker after it moved (and counts newer messages) is kept as it is.
    const newer = run(acked, { type: "rooms/loaded", entries: [entry(5, 2)] })
    expect(newer.rooms.entries.map((e) => [e.readSeq, e.unread])).toEqual([[5, 2]])
  })

  it("holds each message once, in seq order, when a resume replays what was already shown", () => {
    const m3 = makeMessage(room, 3, bob, "three")
    const m4 = makeMessage(room, 4, bob, "four")
    let state = run(opened(), { type: "event", event: chatEvent(m3), now: 0 })
    // Reconnect: channel.resume after m2 replays m3 and m4; a stale m1 arrives too.
    state = run(
      state,
      { type: "connection", connection: { state: "offline", reason: "x", retryAt: 0 } },
      { type: "connection", connection: { state: "online" } },
      { type: "event", event: chatEvent(makeMessage(room, 1, bob, "one")), now: 0 },
      { type: "event", event: chatEvent(m3), now: 0 },
      { type: "event", event: chatEvent(m4), now: 0 },
      { type: "event", event: chatEvent(m4), now: 0 }
    )
    expect(texts(state)).toEqual(["one", "two", "three", "four"])
    expect(logged(state)).toEqual(["one", "two", "three", "four"])
    expect(state.lastSeq).toBe(4)
  })

  it("ignores messages, presence and typing of a room that is not open", () => {
    const state = run(
      opened(),
      { type: "event", event: chatEvent(makeMessage(other, 9, bob, "elsewhere")), now: 0 },
      event({ type: "presence", payload: { room_id: other.room_id, online: [bob], count: 1 } }),
      event({ type: "presence.diff", payload: { room_id: other.room_id, joined: [bob], left: [], count: 1 } }),
      event({ type: "presence.count", payload: { room_id: other.room_id, count: 900 } }),
      event({ type: "typing", payload: { room_id: other.room_id, started: [bob], stopped: [] } })
    )
    expect(texts(state)).toEqual(["one", "two"])
    expect(state.online).toEqual([])
    expect(state.onlineCount).toBe(0)
    expect(typingLine(state)).toBe("")
  })

  it("keeps who is online from the first page, changes and further pages, each user once", () => {
    const carol = { user_id: "0b7c2a2e-0000-4000-8000-000000000003", username: "carol" }
    const dave = { user_id: "0b7c2a2e-0000-4000-8000-000000000004", username: "dave" }
    let state = run(
      opened(),
      event({ type: "presence", payload: { room_id: room.room_id, online: [alice, bob], count: 4, next_cursor: "c1" } })
    )
    expect(state.online).toEqual([alice, bob])
    expect([state.onlineCount, state.onlineCursor]).toEqual([4, "c1"])
    state = run(
      state,
      event({
        type: "presence.diff",
        payload: { room_id: room.room_id, joined: [carol, bob], left: [alice], count: 4 }
      })
    )
    expect(state.online).toEqual([bob, carol])
    // The page asked for (it carries the request's id) adds to the list.
    state = run(
      state,
      event({ type: "presence", id: "f9", payload: { room_id: room.room_id, online: [carol, dave], count: 4 } })
    )
    expect(state.online).toEqual([bob, carol, dave])
    expect(state.onlineCursor).toBe(null)
  })

  it("a count-only room marks the names stale; the next page asked for replaces them", () => {
    let state = run(
      opened(),
      event({ type: "presence", payload: { room_id: room.room_id, online: [alice, bob], count: 2 } }),
      event({ type: "presence.count", payload: { room_id: room.room_id, count: 900 } })
    )
    expect([state.onlineCount, state.onlineStale]).toEqual([900, true])
    state = run(
      state,
      event({
        type: "presence",
        id: "f3",
        payload: { room_id: room.room_id, online: [bob], count: 899, next_cursor: "x" }
      })
    )
    expect(state.online).toEqual([bob])
    expect([state.onlineCount, state.onlineStale, state.onlineCursor]).toEqual([899, false, "x"])
  })

  it("moves your message pending → confirmed on its ack, then into the log on its broadcast", () => {
    const queued: Action = {
      type: "send/queued",
      outgoing: { client_msg_id: "c-1", room_id: room.room_id, text: "hi", status: "pending", sent: false }
    }
    let state = run(opened(), queued, { type: "send/sent", client_msg_id: "c-1" })
    expect(outgoingHere(state).map((o) => o.status)).toEqual(["pending"])
    const stored = makeMessage(room, 3, alice, "hi", "c-1")
    state = run(
      state,
      event({ type: "ack", id: "c-1", payload: { of: "chat.message", msg_id: stored.msg_id, seq: 3 } })
    )
    expect(outgoingHere(state).map((o) => o.status)).toEqual(["confirmed"])
    state = run(state, { type: "event", event: chatEvent(stored), now: 0 })
    expect(outgoingHere(state)).toEqual([])
    expect(logged(state)).toEqual(["one", "two", "hi"])
  })

  it("drops the outgoing entry when the broadcast comes before the ack", () => {
    const stored = makeMessage(room, 3, alice, "hi", "c-1")
    const state = run(
      opened(),
      {
        type: "send/queued",
        outgoing: { client_msg_id: "c-1", room_id: room.room_id, text: "hi", status: "pending", sent: true }
      },
      { type: "event", event: chatEvent(stored), now: 0 },
      event({ type: "ack", id: "c-1", payload: { of: "chat.message", msg_id: stored.msg_id, seq: 3 } })
    )
    expect(state.outgoing).toEqual([])
    expect(logged(state)).toEqual(["one", "two", "hi"])
  })

  it("fails a sent message on an error or a lost connection, keeps unsent ones pending, and retries under the same id", () => {
    const outgoing = (id: string, sent: boolean): Action => ({
      type: "send/queued",
      outgoing: { client_msg_id: id, room_id: room.room_id, text: id, status: "pending", sent }
    })
    let state = run(opened(), outgoing("c-1", true), outgoing("c-2", true), outgoing("c-3", false))
    state = run(state, event({ type: "error", id: "c-1", payload: { code: "rate_limited", message: "slow down" } }))
    state = run(state, { type: "connection", connection: { state: "offline", reason: "gone", retryAt: 0 } })
    expect(state.outgoing.map((o) => [o.client_msg_id, o.status, o.error])).toEqual([
      ["c-1", "failed", "sending too fast"],
      ["c-2", "failed", "connection lost"],
      ["c-3", "pending", undefined]
    ])
    state = run(state, { type: "send/retry", client_msg_id: "c-2" })
    expect(state.outgoing[1]).toEqual({
      client_msg_id: "c-2",
      room_id: room.room_id,
      text: "c-2",
      status: "pending",
      sent: false
    })
  })

  it("shows who is typing until they stop, send, or go quiet", () => {
    const carol = { user_id: "0b7c2a2e-0000-4000-8000-000000000003", username: "carol" }
    let state = run(
      opened(),
      event({ type: "typing", payload: { room_id: room.room_id, started: [bob], stopped: [] } }),
      // Several at once may include ourselves: not shown.
      event({ type: "typing", payload: { room_id: room.room_id, started: [carol, alice], stopped: [] } })
    )
    expect(typingLine(state)).toBe("bob and carol are typing…")
    state = run(state, event({ type: "typing", payload: { room_id: room.room_id, started: [], stopped: [carol] } }))
    expect(typingLine(state)).toBe("bob is typing…")
    state = run(state, event({ type: "typing", payload: { room_id: room.room_id, started: [carol], stopped: [] } }))
    state = run(state, { type: "event", event: chatEvent(makeMessage(room, 3, bob, "done")), now: 0 })
    expect(typingLine(state)).toBe("carol is typing…")
    state = run(state, { type: "typing/expire", now: 1_000 + 60_000 })
    expect(typingLine(state)).toBe("")
  })

  it("escapes control characters in the typing line", () => {
    const state = run(
      opened(),
      event({
        type: "typing",
        payload: { room_id: room.room_id, started: [{ user_id: bob.user_id, username: "b\x1b[2Jb" }], stopped: [] }
      })
    )
    expect(typingLine(state)).toBe("b\\x1b[2Jb is typing…")
  })

  it("prepends older pages in scrollback without doubling a message at the page boundary", () => {
    const history = [3, 4, 5].map((seq) => makeMessage(room, seq, bob, `m${seq}`))
    let state = run(opened(history), { type: "scrollback/open" }, { type: "scrollback/move", delta: -2, floor: 2 })
    expect(state.scrollback?.end).toBe(2)
    const older = [makeMessage(room, 3, bob, "m3"), makeMessage(room, 2, bob, "m2"), makeMessage(room, 1, bob, "m1")]
    state = run(state, { type: "scrollback/loaded", older, exhausted: true })
    expect(texts(state)).toEqual(["m1", "m2", "m3", "m4", "m5"])
    expect(state.scrollback).toEqual({ end: 4, loading: false, exhausted: true })
    // Older pages never go into the printed log: it is append-only.
    expect(logged(state)).toEqual(["m3", "m4", "m5"])
  })
})
