import { render } from "ink-testing-library"
import { afterEach, describe, expect, it } from "vitest"
import { describeDrop } from "../src/chat/socket.ts"
import type { LogItem } from "../src/chat/state.ts"
import { ChatApp } from "../src/chat/ui/app.ts"
import { h } from "../src/chat/ui/h.ts"
import { Input } from "../src/chat/ui/input.ts"
import { type LoginMode, LoginScreen, type LoginValues } from "../src/chat/ui/login.ts"
import { MessageLog } from "../src/chat/ui/message-list.ts"
import { RoomList } from "../src/chat/ui/rooms.ts"
import { TypingLine } from "../src/chat/ui/typing.ts"
import { ApiError } from "../src/shared/http.ts"
import {
  alice,
  bob,
  chatEvent,
  makeController,
  makeDirectRoom,
  makeMessage,
  makeRoom,
  serverEvent,
  settle
} from "./chat-fixtures.ts"

const unmounts: Array<() => void> = []
afterEach(() => {
  for (const unmount of unmounts.splice(0)) unmount()
})
const mount = (tree: Parameters<typeof render>[0]) => {
  const app = render(tree)
  unmounts.push(app.unmount)
  return app
}
const frameOf = (app: ReturnType<typeof render>) => app.lastFrame() ?? ""

const room = makeRoom("general")
const item = (message: ReturnType<typeof makeMessage>, mine = false): LogItem => ({
  key: message.msg_id,
  kind: "message",
  message,
  mine
})

/** The chat screen over a fake connection, open on #general and connected. */
const chatScreen = async () => {
  const t = makeController()
  t.api.joined.push(room)
  t.api.history.set(room.room_id, [makeMessage(room, 1, bob, "welcome in")])
  const app = mount(h(ChatApp, { controller: t.controller }))
  t.controller.start("general")
  await settle(() => frameOf(app).includes("welcome in"))
  t.connection.open()
  await settle(() => frameOf(app).includes("connected"))
  return { ...t, app }
}

/** Types like a terminal does: one chunk per key, letting React render in between. */
const type = async (app: ReturnType<typeof render>, keys: string) => {
  for (const key of keys) {
    app.stdin.write(key)
    await settle()
  }
}

describe("chat components", () => {
  it("message list: prints each message with its time, author and text, in order", () => {
    const items = [makeMessage(room, 1, bob, "first"), makeMessage(room, 2, alice, "second\nsecond line")].map((m) =>
      item(m)
    )
    const frame = frameOf(mount(h(MessageLog, { items })))
    expect(frame).toMatch(/\d\d:\d\d bob first/)
    expect(frame).toMatch(/\d\d:\d\d alice second\n\s+second line/)
    expect(frame.indexOf("first")).toBeLessThan(frame.indexOf("second"))
  })

  it("hostile message: ESC sequences, C1 controls and bidi overrides never reach the terminal raw", () => {
    const hostile = makeMessage(
      { ...room } as typeof room,
      1,
      { user_id: bob.user_id, username: "b\u202eob\x1b]0;pwned\x07" },
      "clear\x1b[2J\x1b[H screen \x9b31m \u202eexe.txt \u2066iso\u2069 zero\u200bwidth\ttab"
    )
    const frame = frameOf(mount(h(MessageLog, { items: [item(hostile)] })))
    for (const raw of ["\x1b[2J", "\x1b[H", "\x1b]0;", "\x07", "\x9b", "\u202e", "\u2066", "\u2069", "\u200b", "\t"]) {
      expect(frame.includes(raw), `raw ${JSON.stringify(raw)} in the frame`).toBe(false)
    }
    expect(frame).toContain("clear\\x1b[2J\\x1b[H screen \\x9b31m \\u202eexe.txt \\u2066iso\\u2069 zero\\u200bwidth")
    expect(frame).toContain("b\\u202eob\\x1b]0;pwned\\x07")
  })

  it("hostile server text: a refused message's error and the reason the connection dropped are shown safely", async () => {
    const t = await chatScreen()
    const hostile = "no\x1b[2J\x1b]52;c;cHduZWQ=\x07 \u202eexe.txt\x9b"
    const raws = ["\x1b", "\x07", "\u202e", "\x9b"]
    const escaped = "no\\x1b[2J\\x1b]52;c;cHduZWQ=\\x07 \\u202eexe.txt\\x9b"
    // The server refuses a message with its own text: it becomes the message's ✗ badge.
    await type(t.app, "hi\r")
    t.connection.deliver(serverEvent({ type: "error", id: "c-1", payload: { code: "forbidden", message: hostile } }))
    await settle(() => frameOf(t.app).includes("✗ not sent"))
    expect(frameOf(t.app)).toContain(`✗ not sent (${escaped})`)
    // A refused token refresh carries the server's message into the status line's reason.
    t.connection.drop(describeDrop(new ApiError(503, "service_unavailable", hostile)))
    await settle(() => frameOf(t.app).includes("offline ("))
    // The status line is cut to the terminal's width; what shows of the reason is escaped.
    expect(frameOf(t.app)).toContain("offline (no\\x1b[2J")
    for (const raw of raws) expect(frameOf(t.app).includes(raw), `raw ${JSON.stringify(raw)} in the frame`).toBe(false)
  })

  it("input: edits, submits on Enter and offers keys to onKey first", async () => {
    const submitted: Array<string> = []
    const offered: Array<string> = []
    const app = mount(
      h(Input, {
        onSubmit: (value: string) => void submitted.push(value),
        onKey: (input: string, _key: unknown, value: string) => {
          if (input === "?" && value.length === 0) {
            offered.push("help")
            return true
          }
          return false
        }
      })
    )
    await type(app, "?")
    expect(offered).toEqual(["help"])
    await type(app, "helo")
    app.stdin.write("\x1b[D") // ←
    await settle()
    await type(app, "l")
    expect(frameOf(app)).toContain("> hello")
    await type(app, "\x7f\x7f") // Backspace twice, before the final "o"
    expect(frameOf(app)).toContain("> heo")
    await type(app, "?\r")
    expect(submitted).toEqual(["he?o"])
    expect(frameOf(app).trim()).toBe(">")
    // Text and Enter arriving in one chunk still submit.
    app.stdin.write("fast\rtyping")
    await settle()
    expect(submitted).toEqual(["he?o", "fast"])
    expect(frameOf(app)).toContain("> typing")
  })

  it("your message: pending, then confirmed on its ack; another failed, then retried (Ctrl-R) under the same id", async () => {
    const t = await chatScreen()
    await type(t.app, "hi bob\r")
    await settle(() => frameOf(t.app).includes("hi bob … sending"))
    const stored = makeMessage(room, 2, alice, "hi bob", "c-1")
    t.connection.deliver(
      serverEvent({ type: "ack", id: "c-1", payload: { of: "chat.message", msg_id: stored.msg_id, seq: 2 } })
    )
    await settle(() => frameOf(t.app).includes("hi bob ✓ sent"))

    await type(t.app, "are you there\r")
    t.connection.deliver(
      serverEvent({ type: "error", id: "c-2", payload: { code: "overloaded", message: "room busy" } })
    )
    await settle(() => frameOf(t.app).includes("are you there ✗ not sent (the server could not store it)"))

    await type(t.app, "\x12") // Ctrl-R
    await settle(() => frameOf(t.app).includes("are you there … sending"))
    expect(t.connection.ofType("chat.message").map((f) => [f.payload.text, f.payload.client_msg_id])).toEqual([
      ["hi bob", "c-1"],
      ["are you there", "c-2"],
      ["are you there", "c-2"]
    ])

    // The broadcasts arrive: both move into the log, printed once, and leave the pending area.
    t.connection.deliver(chatEvent(stored))
    t.connection.deliver(chatEvent(makeMessage(room, 3, alice, "are you there", "c-2")))
    await settle(() => !frameOf(t.app).includes("sending") && !frameOf(t.app).includes("✓ sent"))
    const frame = frameOf(t.app)
    expect(frame).toMatch(/alice hi bob\n/)
    expect(frame.match(/are you there/g)).toHaveLength(1)
  })

  it("typing line: shows who is typing and clears when they stop", async () => {
    expect(frameOf(mount(h(TypingLine, { text: "bob is typing…" })))).toBe("bob is typing…")
    const t = await chatScreen()
    const typing = (on: boolean) =>
      t.connection.deliver(
        serverEvent({
          type: "typing",
          payload: { room_id: room.room_id, started: on ? [bob] : [], stopped: on ? [] : [bob] }
        })
      )
    typing(true)
    await settle(() => frameOf(t.app).includes("bob is typing…"))
    typing(false)
    await settle(() => !frameOf(t.app).includes("is typing"))
  })

  it("status line: who is online and the connection; help on ?", async () => {
    const t = await chatScreen()
    t.connection.deliver(
      serverEvent({ type: "presence", payload: { room_id: room.room_id, online: [alice, bob], count: 2 } })
    )
    await settle(() => frameOf(t.app).includes("#general · alice, bob"))
    // A room too big for names: the count alone.
    t.connection.deliver(serverEvent({ type: "presence.count", payload: { room_id: room.room_id, count: 1200 } }))
    await settle(() => frameOf(t.app).includes("#general · 1200 online"))
    t.connection.drop("server not reachable")
    await settle(() => frameOf(t.app).includes("offline (server not reachable), reconnecting…"))
    await type(t.app, "?")
    await settle(() => frameOf(t.app).includes("/create NAME [--private]"))
    await type(t.app, "x")
    await settle(() => !frameOf(t.app).includes("/create NAME [--private]"))
  })

  it("room list and status line: a direct room is @ the other user, with no lock; other rooms are #name", async () => {
    const entries = [
      { room: makeRoom("general"), joined: true, unread: 0, readSeq: 0 },
      { room: makeRoom("ops", { visibility: "private" }), joined: true, unread: 0, readSeq: 0 },
      { room: makeDirectRoom(bob), joined: true, unread: 2, readSeq: 0 }
    ]
    const frame = frameOf(mount(h(RoomList, { entries, selected: 0, loading: false, height: 10 })))
    expect(frame).toContain("#general")
    expect(frame).toContain("#ops 🔒")
    expect(frame).toMatch(/2 @bob\n/)
    expect(frame).not.toContain("#bob")

    const t = makeController()
    t.api.direct.set("bob", entries[2]!.room)
    const app = mount(h(ChatApp, { controller: t.controller }))
    t.controller.start()
    t.controller.submit("/dm bob")
    await settle(() => frameOf(app).includes("── @bob ──"))
    t.connection.open()
    await settle(() => /@bob · /.test(frameOf(app)))
  })

  it("sign-up form: keys typed in one burst fill each field in turn; the server's refusal is one line", async () => {
    const submitted: Array<[LoginMode, LoginValues]> = []
    const app = mount(
      h(LoginScreen, {
        server: "http://localhost:8080",
        initialMode: "login",
        onQuit: () => {},
        onSubmit: async (mode: LoginMode, values: LoginValues) => {
          submitted.push([mode, values])
          throw new Error("password must be at least 8 characters")
        }
      })
    )
    await settle(() => frameOf(app).includes("Sign in to http://localhost:8080"))
    app.stdin.write("\x0e") // Ctrl-N: create an account instead
    await settle(() => frameOf(app).includes("Create an account on"))
    app.stdin.write("carol\rcarol@example.com\rshort\r")
    await settle(() => frameOf(app).includes("password must be at least 8 characters"))
    expect(submitted).toEqual([["signup", { username: "carol", email: "carol@example.com", password: "short" }]])
    expect(frameOf(app)).toContain("password  •••••")
    expect(frameOf(app)).not.toContain("short")
  })
})
