/**
 * The chat session's behaviour: it turns what the user does (a line typed, a key) and what the
 * server sends into state changes, and decides what to send. The WebSocket and the HTTP API
 * are passed in, so tests run it against fakes; components only read its state and call it.
 *
 * On opening a room and on every (re)connect it subscribes with `channel.resume` after the last
 * message held (for an empty room, after the smallest TIMEUUID: from its first message), never
 * with a bare `channel.subscribe`, which would lose what was posted between the history fetch
 * and the subscription. Then it sends what was typed while offline. The reducer drops what the
 * replay repeats, so the log holds each message once.
 */
import { randomUUID } from "node:crypto"
import type { ClientEvent, RoomView, ServerEvent } from "@parley/domain"
import { MessageId, MessageText } from "@parley/domain"
import { Schema } from "effect"
import { ApiError } from "../shared/http.ts"
import { safeText } from "../shared/safe-text.ts"
import type { ChatApi } from "./api.ts"
import { SignedOutError } from "./auth.ts"
import { type Command, parseCommand } from "./commands.ts"
import { roomLabel } from "./room-label.ts"
import type { ChatConnection, SocketHandlers } from "./socket.ts"
import { type Action, initialState, type Me, type RoomEntry, reduce, type State } from "./state.ts"

export interface ControllerDeps {
  readonly me: Me
  readonly api: ChatApi
  readonly connect: (handlers: SocketHandlers) => ChatConnection
  /** Ends this device's session on the server. */
  readonly logout: () => Promise<void>
  /** Called once when the app should end: 0 quit, 3 signed out. */
  readonly onExit: (code: number, message?: string) => void
  readonly newId?: () => string
  /** A sent message without an ack after this long is marked failed. */
  readonly ackTimeoutMs?: number
}

/** Messages loaded when a room opens, and per page of scrollback. */
export const historyPage = 50
/** New entries in the open room are reported read after this quiet time (one `read.mark` per burst). */
const readMarkDelayMs = 1_000
/** A `typing.start` is repeated this often while typing continues (the server passes one per 2 s). */
const typingRepeatMs = 3_000
/** No keystroke for this long ends "typing". */
const typingIdleMs = 4_000

const isValidText = Schema.is(MessageText)

/** "2026-12-02 14:05" in local time, for search results from any day. */
const when = (iso: string) => {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return "?"
  const two = (n: number) => String(n).padStart(2, "0")
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}`
}

/** The smallest TIMEUUID: resuming after it replays a room from its first message. */
export const beforeAnyMessage = Schema.decodeSync(MessageId)("00000000-0000-1000-8000-000000000000")

export class ChatController {
  private state: State
  private readonly listeners = new Set<() => void>()
  private readonly deps: ControllerDeps
  private connection: ChatConnection | undefined
  private online = false
  private frameCounter = 0
  private typingSentAt = 0
  private typingIdle: ReturnType<typeof setTimeout> | undefined
  private readonly ackTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private ticker: ReturnType<typeof setInterval> | undefined
  private readTimer: ReturnType<typeof setTimeout> | undefined
  /** room id → the highest `seq` this client has reported read there (sent, not yet acked). */
  private readonly readSent = new Map<string, number>()
  private exited = false
  private loggingOut = false

  constructor(deps: ControllerDeps) {
    this.deps = deps
    this.state = initialState(deps.me)
  }

  getState = (): State => this.state

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  dispatch = (action: Action) => {
    const next = reduce(this.state, action)
    if (next === this.state) return
    const before = this.state
    this.state = next
    if (next.messages !== before.messages) this.scheduleRead()
    for (const listener of this.listeners) listener()
  }

  /** Connects, loads the room list, and opens `room` (a name or id) when given. */
  start(room?: string) {
    this.connection = this.deps.connect({
      onOpen: () => this.onOpen(),
      onEvent: (event) => this.onEvent(event),
      onDown: (reason, retryInMs) => {
        this.online = false
        this.dispatch({ type: "connection", connection: { state: "offline", reason, retryAt: Date.now() + retryInMs } })
      },
      onSignedOut: (error) => this.signedOut(error)
    })
    this.ticker = setInterval(() => this.dispatch({ type: "typing/expire", now: Date.now() }), 1_000)
    this.ticker.unref?.()
    void this.guard(async () => {
      if (room !== undefined) await this.join(room)
      // No room asked for, or it could not be opened (its notice stays): the room list.
      if (this.state.room === null) await this.loadRooms()
    })
  }

  stop() {
    this.flushRead()
    this.stopTyping()
    if (this.ticker !== undefined) clearInterval(this.ticker)
    for (const timer of this.ackTimers.values()) clearTimeout(timer)
    this.ackTimers.clear()
    this.connection?.close()
  }

  // ---- what the user does -------------------------------------------------------------

  /** Enter in the input line. */
  submit(line: string) {
    const text = line.trim()
    this.dispatch({ type: "notice/clear" })
    if (text.startsWith("/")) {
      const parsed = parseCommand(text)
      if (!parsed.ok) return this.notice(parsed.error)
      return void this.guard(() => this.run(parsed.command))
    }
    if (text.length === 0) return
    if (this.state.room === null) return this.notice("open a room first: pick one with ↑↓ Enter, or /join NAME")
    this.send(line.replace(/\s+$/, ""))
  }

  /** The input line changed: says "typing" while there is text for the room. */
  inputChanged(line: string) {
    if (this.state.room === null || line.length === 0 || line.startsWith("/")) return this.stopTyping()
    const now = Date.now()
    if (now - this.typingSentAt >= typingRepeatMs) {
      this.typingSentAt = now
      this.frame({ type: "typing.start", to: this.state.room.room_id })
    }
    if (this.typingIdle !== undefined) clearTimeout(this.typingIdle)
    this.typingIdle = setTimeout(() => this.stopTyping(), typingIdleMs)
  }

  /** Sends every failed message of the open room again, each under its own client_msg_id. */
  retry() {
    const failed = this.state.outgoing.filter((o) => o.status === "failed" && o.room_id === this.state.room?.room_id)
    if (failed.length === 0) return this.notice("nothing to retry", "info")
    for (const o of failed) {
      this.dispatch({ type: "send/retry", client_msg_id: o.client_msg_id })
      this.transmit(o.client_msg_id)
    }
  }

  selectRoom(delta: number) {
    this.dispatch({ type: "rooms/select", delta })
  }

  openSelected() {
    const entry = this.state.rooms.entries[this.state.rooms.selected]
    if (entry !== undefined) void this.guard(() => this.enter(entry.room, entry.joined))
  }

  showRooms() {
    void this.guard(() => this.loadRooms())
  }

  help(open: boolean) {
    this.dispatch({ type: "help", open })
  }

  /** PageUp: opens the scrollback window, or moves it `step` messages further back. */
  scrollUp(step: number) {
    if (this.state.room === null) return
    if (this.state.scrollback === null) this.dispatch({ type: "scrollback/open" })
    this.dispatch({ type: "scrollback/move", delta: -step, floor: step })
    // The window reached the oldest message held: fetch the page before it.
    const sb = this.state.scrollback
    if (sb !== null && !sb.loading && !sb.exhausted && sb.end - step <= 0) void this.guard(() => this.loadOlder())
  }

  scrollDown(step: number) {
    const sb = this.state.scrollback
    if (sb === null) return
    // Already showing the newest message: PageDown returns to live.
    if (sb.end >= this.state.messages.length) return this.dispatch({ type: "scrollback/close" })
    this.dispatch({ type: "scrollback/move", delta: step, floor: step })
  }

  closeScrollback() {
    this.dispatch({ type: "scrollback/close" })
  }

  quit() {
    this.exit(0)
  }

  // ---- commands -----------------------------------------------------------------------

  private async run(command: Command) {
    switch (command.name) {
      case "join":
        return this.join(command.room)
      case "leave":
        return this.leave()
      case "create": {
        const room = await this.deps.api.createRoom(command.room, command.visibility)
        return this.enter(room, true)
      }
      case "dm":
        return this.enter(await this.deps.api.openDirect(command.username), true)
      case "rooms":
        return this.loadRooms()
      case "who":
        return this.who()
      case "search":
        return this.search(command.words, command.here)
      case "edit":
        return this.change("edit", command.text)
      case "delete":
        return this.change("delete", "")
      case "retry":
        return this.retry()
      case "logout":
        // The server closes this device's socket (4003) as part of the logout, possibly before
        // the HTTP answer arrives: that close is the logout succeeding, not a revocation.
        this.loggingOut = true
        try {
          await this.deps.logout()
        } finally {
          this.loggingOut = false
        }
        return this.exit(0, "signed out")
      case "help":
        return this.help(true)
      case "quit":
        return this.exit(0)
    }
  }

  private async join(nameOrId: string) {
    // `@bob` (`/join @bob`, `parley --room @bob`) is the direct room with bob, as `/dm bob`.
    if (nameOrId.startsWith("@") && nameOrId.length > 1) {
      return this.enter(await this.deps.api.openDirect(nameOrId.slice(1)), true)
    }
    const wanted = nameOrId.replace(/^#/, "").toLowerCase()
    const matches = (room: RoomView) => room.room_id === wanted || room.name.toLowerCase() === wanted
    const mine = (await this.deps.api.joinedRooms()).find(matches)
    if (mine !== undefined) return this.enter(mine, true)
    const open = (await this.deps.api.publicRooms()).find(matches)
    if (open === undefined)
      return this.notice(`no room "${nameOrId}": /rooms lists them, /create ${nameOrId} makes one`)
    return this.enter(open, false)
  }

  private async leave() {
    const room = this.state.room
    if (room === null) return this.notice("no room is open")
    await this.deps.api.leaveRoom(room.room_id)
    this.closeRoom()
    this.dispatch({ type: "system", text: `left ${roomLabel(room)}` })
    await this.loadRooms()
  }

  /**
   * `/search`: one page of results printed into the log (room, time, author, text), newest
   * first. Room names come from the rooms known here; the server only ever answers with rooms
   * the user may read.
   */
  private async search(words: string, here: boolean) {
    const room = this.state.room
    if (here && room === null) return this.notice("open a room first, or search all your rooms without --here")
    const page = await this.deps.api.search(words, here ? room?.room_id : undefined)
    const rooms = new Map(this.state.rooms.entries.map((e) => [e.room.room_id as string, e.room]))
    if (room !== null) rooms.set(room.room_id, room)
    const where = here && room !== null ? ` in ${roomLabel(room)}` : ""
    const more = page.next_cursor === null ? "" : " (more exist: add words to narrow it)"
    const count = page.results.length
    this.dispatch({
      type: "system",
      text:
        count === 0
          ? `search "${words}"${where}: no messages`
          : `search "${words}"${where}: ${count} ${count === 1 ? "message" : "messages"}, newest first${more}`
    })
    for (const m of page.results) {
      const found = rooms.get(m.room_id)
      const label = found === undefined ? `#${m.room_id.slice(0, 8)}` : roomLabel(found)
      this.dispatch({ type: "system", text: `${label}  ${when(m.created_at)}  ${m.username}: ${m.text}` })
    }
  }

  /** Who is online: the names known; when the room has more (or they may be stale), asks for the next page. */
  private who() {
    const { room, online, onlineCount, onlineCursor, onlineStale } = this.state
    if (room === null) return this.notice("no room is open")
    const names = onlineStale ? [] : online.map((u) => u.username)
    const count = Math.max(onlineCount, names.length)
    const more = count - names.length
    const text =
      count === 0
        ? "nobody is online here (yet)"
        : `online in ${roomLabel(room)} (${count})${names.length === 0 ? "" : `: ${names.join(", ")}`}`
    this.dispatch({ type: "system", text: more > 0 ? `${text} … ${more} more: /who again for the next names` : text })
    if (onlineStale) this.frame({ type: "presence.list", to: room.room_id })
    else if (more > 0 && onlineCursor !== null) {
      this.frame({ type: "presence.list", to: room.room_id, cursor: onlineCursor })
    }
  }

  // ---- rooms --------------------------------------------------------------------------

  private async loadRooms() {
    this.closeRoom()
    this.dispatch({ type: "rooms/show" })
    this.dispatch({ type: "rooms/loading" })
    const [joined, directory] = await Promise.all([this.deps.api.joinedRooms(), this.deps.api.publicRooms()])
    const mine = new Set(joined.map((r) => r.room_id))
    // Unread counts come with the list (the server keeps each member's read marker).
    const entries: Array<RoomEntry> = [
      ...joined.map((room) => ({ room, joined: true, unread: room.unread, readSeq: room.read_seq })),
      ...directory.filter((r) => !mine.has(r.room_id)).map((room) => ({ room, joined: false, unread: 0, readSeq: 0 }))
    ]
    this.dispatch({ type: "rooms/loaded", entries })
  }

  private async enter(room: RoomView, joined: boolean) {
    const target = joined ? room : await this.deps.api.joinRoom(room.room_id)
    const history = await this.deps.api.messagesBefore(target.room_id, historyPage)
    this.closeRoom()
    this.dispatch({ type: "room/opened", room: target, history })
    if (target.archived) this.notice("this room is archived: history only, no new messages", "info")
    if (this.online) this.subscribeRoom(target.room_id)
    this.flushRead()
  }

  private closeRoom() {
    const room = this.state.room
    if (room === null) return
    this.stopTyping()
    this.flushRead()
    this.frame({ type: "channel.unsubscribe", to: room.room_id })
    this.dispatch({ type: "room/closed" })
  }

  private subscribeRoom(roomId: RoomView["room_id"]) {
    this.frame({ type: "channel.resume", to: roomId, after: this.state.messages.at(-1)?.msg_id ?? beforeAnyMessage })
  }

  private async loadOlder() {
    const room = this.state.room
    const oldest = this.state.messages[0]
    if (room === null) return
    if (oldest === undefined) return this.dispatch({ type: "scrollback/loaded", older: [], exhausted: true })
    this.dispatch({ type: "scrollback/loading" })
    const older = await this.deps.api.messagesBefore(room.room_id, historyPage, oldest.msg_id)
    if (this.state.room?.room_id !== room.room_id) return
    this.dispatch({ type: "scrollback/loaded", older, exhausted: older.length < historyPage })
  }

  // ---- sending ------------------------------------------------------------------------

  private send(text: string) {
    const room = this.state.room
    if (room === null) return
    if (!isValidText(text)) return this.notice("a message is 1 to 4000 characters")
    if (room.archived) return this.notice("this room is archived: it takes no new messages")
    const client_msg_id = (this.deps.newId ?? randomUUID)()
    this.stopTyping()
    this.dispatch({
      type: "send/queued",
      outgoing: { client_msg_id, room_id: room.room_id, text, status: "pending", sent: false }
    })
    this.transmit(client_msg_id)
  }

  /**
   * Edits or deletes your newest message in the open room; the server checks it is yours. Its
   * `chat.message` (kind edit/delete) changes the screen; a refusal comes back as a notice.
   */
  private change(kind: "edit" | "delete", text: string) {
    const room = this.state.room
    if (room === null) return this.notice("open a room first")
    if (room.archived) return this.notice("this room is archived: its messages can no longer change")
    const mine = this.state.messages.findLast((m) => m.user_id === this.state.me.user_id && m.deleted_by === null)
    if (mine === undefined) return this.notice(`no message of yours here to ${kind}`)
    if (kind === "edit" && !isValidText(text)) return this.notice("a message is 1 to 4000 characters")
    const client_msg_id = (this.deps.newId ?? randomUUID)()
    const sent = this.frame(
      kind === "edit"
        ? { type: "chat.edit", to: room.room_id, payload: { msg_id: mine.msg_id, text, client_msg_id } }
        : { type: "chat.delete", to: room.room_id, payload: { msg_id: mine.msg_id, client_msg_id } }
    )
    if (!sent) this.notice("not connected: try again once online")
  }

  /** Writes a pending message to the socket (if connected) and starts its ack timer. */
  private transmit(clientMsgId: string) {
    const o = this.state.outgoing.find((x) => x.client_msg_id === clientMsgId)
    if (o === undefined || o.status !== "pending" || o.sent || !this.online) return
    const frame: ClientEvent = {
      type: "chat.message",
      id: o.client_msg_id,
      to: o.room_id,
      payload: { text: o.text, client_msg_id: o.client_msg_id }
    }
    if (!this.connection?.send(frame)) return
    this.dispatch({ type: "send/sent", client_msg_id: clientMsgId })
    const timeout = this.deps.ackTimeoutMs ?? 10_000
    const previous = this.ackTimers.get(clientMsgId)
    if (previous !== undefined) clearTimeout(previous)
    this.ackTimers.set(
      clientMsgId,
      setTimeout(() => {
        this.ackTimers.delete(clientMsgId)
        this.dispatch({
          type: "send/failed",
          client_msg_id: clientMsgId,
          error: `no answer in ${Math.round(timeout / 1000)} s`
        })
      }, timeout)
    )
  }

  private stopTyping() {
    if (this.typingIdle !== undefined) clearTimeout(this.typingIdle)
    this.typingIdle = undefined
    if (this.typingSentAt === 0) return
    this.typingSentAt = 0
    const room = this.state.room
    if (room !== null) this.frame({ type: "typing.stop", to: room.room_id })
  }

  private frame(frame: ClientEvent) {
    if (!this.online) return false
    return this.connection?.send({ ...frame, id: frame.id ?? `f${++this.frameCounter}` }) ?? false
  }

  // ---- the server ---------------------------------------------------------------------

  private onOpen() {
    this.online = true
    this.typingSentAt = 0
    this.dispatch({ type: "connection", connection: { state: "online" } })
    const room = this.state.room
    if (room === null) return
    this.subscribeRoom(room.room_id)
    for (const o of this.state.outgoing) if (o.room_id === room.room_id) this.transmit(o.client_msg_id)
    this.flushRead()
  }

  private onEvent(event: ServerEvent) {
    if (event.type === "ack" && event.id !== undefined) this.clearAckTimer(event.id)
    if (event.type === "error" && event.id !== undefined) this.clearAckTimer(event.id)
    if (event.type === "chat.message" && event.payload.client_msg_id !== null) {
      this.clearAckTimer(event.payload.client_msg_id)
    }
    this.dispatch({ type: "event", event, now: Date.now() })
  }

  private clearAckTimer(id: string) {
    const timer = this.ackTimers.get(id)
    if (timer === undefined) return
    clearTimeout(timer)
    this.ackTimers.delete(id)
  }

  private signedOut(error: SignedOutError) {
    if (this.loggingOut) return
    this.online = false
    this.dispatch({ type: "connection", connection: { state: "signed-out", reason: error.message } })
    this.exit(3, error.message)
  }

  // ---- helpers ------------------------------------------------------------------------

  private notice(text: string, tone: "info" | "error" = "error") {
    this.dispatch({ type: "notice", text, tone })
  }

  /** Runs an action; any failure becomes the one error line, never a stack trace. */
  private async guard(action: () => unknown): Promise<void> {
    try {
      await action()
    } catch (error) {
      if (error instanceof SignedOutError) return this.signedOut(error)
      this.notice(describeError(error))
    }
  }

  private scheduleRead() {
    if (this.readTimer !== undefined) return
    this.readTimer = setTimeout(() => this.flushRead(), readMarkDelayMs)
    this.readTimer.unref?.()
  }

  /**
   * Moves the open room's read marker to the newest entry shown, over the socket (`read.mark`):
   * opening a room reads it. Not while scrolled back into history, and only forward of what
   * was already reported; offline, it is sent on reconnect.
   */
  private flushRead() {
    if (this.readTimer !== undefined) clearTimeout(this.readTimer)
    this.readTimer = undefined
    const { room, lastSeq, scrollback, messages } = this.state
    if (room === null || lastSeq === 0) return
    if (scrollback !== null && scrollback.end < messages.length) return
    if (lastSeq <= Math.max(room.read_seq, this.readSent.get(room.room_id) ?? 0)) return
    if (this.frame({ type: "read.mark", to: room.room_id, payload: { seq: lastSeq } })) {
      this.readSent.set(room.room_id, lastSeq)
    }
  }

  private exit(code: number, message?: string) {
    if (this.exited) return
    this.exited = true
    this.stop()
    this.deps.onExit(code, message)
  }
}

/** One line for the user: the server's own message when it sent one. */
export const describeError = (error: unknown): string => {
  if (error instanceof ApiError) return safeText(error.message)
  if (error instanceof Error) return safeText(error.message.split("\n")[0] ?? "unexpected error")
  return safeText(String(error))
}
