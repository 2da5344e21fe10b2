import type { MessageView } from "@parley/domain"
import { describe, expect, it } from "vitest"
import { shownText } from "../src/chat/changes.ts"
import { parseCommand } from "../src/chat/commands.ts"
import { type Action, initialState, type Me, reduce, type State } from "../src/chat/state.ts"
import { alice, bob, chatEvent, makeController, makeMessage, makeRoom, serverEvent, settle } from "./chat-fixtures.ts"

const room = makeRoom("general")
const run = (state: State, ...actions: Array<Action>) => actions.reduce(reduce, state)
const deliver = (message: MessageView): Action => ({ type: "event", event: chatEvent(message), now: 0 })

/** Entry `seq` of the room: an edit (new text) or a delete (null) of `target` by `by`. */
const change = (seq: number, target: MessageView, by: Me, text: string | null): MessageView => ({
  ...makeMessage(room, seq, by, text ?? ""),
  kind: text === null ? "delete" : "edit",
  target_id: target.msg_id
})

const m1 = makeMessage(room, 1, bob, "one")
const m2 = makeMessage(room, 2, alice, "two")
const opened = () => run(initialState(alice), { type: "room/opened", room, history: [m1, m2] })
const shown = (state: State) => state.messages.map(shownText)
const printed = (state: State) =>
  state.log.flatMap((i) => (i.kind === "message" ? [shownText(i.message)] : i.kind === "system" ? [i.text] : []))

describe("chat edits and deletes", () => {
  it("applies a live edit and delete to the message they change and prints it again in its new state", () => {
    const state = run(opened(), deliver(change(3, m1, bob, "one!")), deliver(change(4, m2, alice, null)))
    expect(shown(state)).toEqual(["one! (edited)", "message deleted"])
    expect(printed(state).slice(-2)).toEqual(["one! (edited)", "message deleted"])
    expect(state.lastSeq).toBe(4)
    // A replay (resume after a reconnect) changes nothing twice.
    const replayed = run(state, deliver(change(3, m1, bob, "one!")), deliver(change(4, m2, alice, null)))
    expect(replayed.log.length).toBe(state.log.length)
  })

  it("shows history in its current state, its edit and delete entries counting only for seq", () => {
    const history: Array<MessageView> = [
      { ...m1, text: "one!", edited_at: m1.created_at },
      { ...m2, text: "", deleted_by: alice.user_id as MessageView["deleted_by"] },
      change(3, m1, bob, "one!"),
      change(4, m2, alice, null)
    ]
    const state = run(initialState(alice), { type: "room/opened", room, history })
    expect(shown(state)).toEqual(["one! (edited)", "message deleted"])
    expect(state.lastSeq).toBe(4)
  })

  it("notes a change to a message older than what is loaded", () => {
    const older = makeMessage(room, 0, bob, "zero")
    const state = run(opened(), deliver(change(3, older, bob, "zero!")))
    expect(printed(state).at(-1)).toBe("bob edited an older message: zero!")
    expect(shown(state)).toEqual(["one", "two"])
  })

  it("parses /edit NEW TEXT and /delete", () => {
    expect(parseCommand("/edit fixed it")).toEqual({ ok: true, command: { name: "edit", text: "fixed it" } })
    expect(parseCommand("/edit")).toEqual({ ok: false, error: "usage: /edit NEW TEXT" })
    expect(parseCommand("/delete")).toEqual({ ok: true, command: { name: "delete" } })
  })

  it("/edit and /delete change your newest message of the open room, under a fresh client_msg_id", async () => {
    const t = makeController()
    t.api.joined.push(room)
    t.api.history.set(room.room_id, [m1, m2, makeMessage(room, 3, bob, "three")])
    t.controller.start("general")
    await settle(() => t.controller.getState().room !== null)
    t.connection.open()
    t.controller.submit("/edit two, fixed")
    t.controller.submit("/delete")
    expect(t.connection.ofType("chat.edit").map((f) => f.payload)).toEqual([
      { msg_id: m2.msg_id, text: "two, fixed", client_msg_id: "c-1" }
    ])
    expect(t.connection.ofType("chat.delete").map((f) => f.payload)).toEqual([
      { msg_id: m2.msg_id, client_msg_id: "c-2" }
    ])
    // A refusal is shown as the notice.
    t.connection.deliver(
      serverEvent({
        type: "error",
        id: "x",
        payload: { code: "forbidden", message: "only its author edits a message" }
      })
    )
    expect(t.controller.getState().notice?.text).toBe("only its author edits a message")
  })

  it("/delete with nothing of yours in the room says so and sends nothing", async () => {
    const t = makeController({ me: alice })
    t.api.joined.push(room)
    t.api.history.set(room.room_id, [m1])
    t.controller.start("general")
    await settle(() => t.controller.getState().room !== null)
    t.connection.open()
    t.controller.submit("/delete")
    expect(t.connection.ofType("chat.delete")).toEqual([])
    expect(t.controller.getState().notice?.text).toBe("no message of yours here to delete")
  })
})
