/**
 * Everything the chat screen shows, as one value changed only by `reduce`. The controller
 * turns server frames, HTTP answers and timers into actions; components render the state.
 * Tests drive the reducer directly, without a terminal or a server.
 *
 * Rules kept here:
 * - A room's messages are held once each, in `seq` order: a `chat.message` at or below the
 *   last `seq` is a duplicate (a replay after `channel.resume`) and is dropped.
 * - `log` is what the terminal has printed (ink's `<Static>`): it is only ever appended to.
 * - Your own message lives in `outgoing` until its `chat.message` arrives: `pending` (sent or
 *   waiting for a connection), `confirmed` (acked: stored), or `failed` (error, timeout or a
 *   connection lost before the ack), from where a retry sends it again under the same
 *   `client_msg_id`, so the server stores it at most once.
 */
import type { MessageView, PresenceUser as PresenceUserSchema, RoomId, RoomView, ServerEvent } from "@parley/domain"
import { safeText } from "../shared/safe-text.ts"
import { applyChange, changeNote } from "./changes.ts"
import { roomLabel } from "./room-label.ts"

export type PresenceUser = typeof PresenceUserSchema.Type

export interface Me {
  readonly user_id: string
  readonly username: string
}

export interface RoomEntry {
  readonly room: RoomView
  /** A member of the room (false: a public room from the directory). */
  readonly joined: boolean
  /**
   * Entries after your read marker, as the server counts them (head `seq` − marker: edits and
   * deletes count too); 0 for a public room you have not joined.
   */
  readonly unread: number
  /** Your read marker there: markers only move forward, so an older report is ignored. */
  readonly readSeq: number
}

export type OutgoingStatus = "pending" | "confirmed" | "failed"

export interface Outgoing {
  readonly client_msg_id: string
  readonly room_id: RoomId
  readonly text: string
  readonly status: OutgoingStatus
  /** Written to the socket (false: waiting for the connection). */
  readonly sent: boolean
  readonly error?: string
  readonly msg_id?: string
}

export type LogItem =
  | { readonly key: string; readonly kind: "message"; readonly message: MessageView; readonly mine: boolean }
  | { readonly key: string; readonly kind: "system"; readonly text: string; readonly tone: "info" | "error" }
  /** `name`: the room's label, `#general` or `@bob`. */
  | { readonly key: string; readonly kind: "room"; readonly name: string }

export type Connection =
  | { readonly state: "connecting" }
  | { readonly state: "online" }
  | { readonly state: "offline"; readonly reason: string; readonly retryAt: number }
  | { readonly state: "signed-out"; readonly reason: string }

export interface Scrollback {
  /** Index into `messages` one past the newest message shown. */
  readonly end: number
  readonly loading: boolean
  /** The room's first message is loaded. */
  readonly exhausted: boolean
}

export interface State {
  readonly screen: "rooms" | "chat"
  readonly help: boolean
  readonly me: Me
  readonly connection: Connection
  readonly rooms: { readonly entries: ReadonlyArray<RoomEntry>; readonly selected: number; readonly loading: boolean }
  readonly room: RoomView | null
  /** The open room's messages, oldest first, each once. */
  readonly messages: ReadonlyArray<MessageView>
  readonly lastSeq: number
  readonly log: ReadonlyArray<LogItem>
  readonly outgoing: ReadonlyArray<Outgoing>
  /** Who is online in the open room, as far as known: the first page, pages asked for since, and changes. */
  readonly online: ReadonlyArray<PresenceUser>
  /** How many are online there (may exceed the names known). */
  readonly onlineCount: number
  /** Where the next page of names starts (`presence.list`), or null when none is known to follow. */
  readonly onlineCursor: string | null
  /** The room is too big for per-user changes (`presence.count`): the names known may be out of date. */
  readonly onlineStale: boolean
  /** user_id → who is typing in the open room, and until when (ms) without news. */
  readonly typing: Readonly<Record<string, { readonly username: string; readonly until: number }>>
  readonly scrollback: Scrollback | null
  /** The one line for errors and notices. */
  readonly notice: { readonly text: string; readonly tone: "info" | "error" } | null
  /**
   * room id → the newest read marker heard (an ack, another session): a list whose request
   * read the marker before it moved, and came back after the news, still shows it.
   */
  readonly markers: ReadonlyMap<string, ReadMarker>
}

interface ReadMarker {
  readonly seq: number
  readonly unread: number
}

export type Action =
  | { readonly type: "connection"; readonly connection: Connection }
  | { readonly type: "event"; readonly event: ServerEvent; readonly now: number }
  | { readonly type: "rooms/loading" }
  | { readonly type: "rooms/loaded"; readonly entries: ReadonlyArray<RoomEntry> }
  | { readonly type: "rooms/select"; readonly delta: number }
  | { readonly type: "rooms/show" }
  | { readonly type: "room/opened"; readonly room: RoomView; readonly history: ReadonlyArray<MessageView> }
  | { readonly type: "room/closed" }
  | { readonly type: "send/queued"; readonly outgoing: Outgoing }
  | { readonly type: "send/sent"; readonly client_msg_id: string }
  | { readonly type: "send/failed"; readonly client_msg_id: string; readonly error: string }
  | { readonly type: "send/retry"; readonly client_msg_id: string }
  | { readonly type: "typing/expire"; readonly now: number }
  | { readonly type: "scrollback/open" }
  /** Moves the window's end by `delta`, never above `floor` (a page that fills the window). */
  | { readonly type: "scrollback/move"; readonly delta: number; readonly floor: number }
  | { readonly type: "scrollback/loading" }
  | { readonly type: "scrollback/loaded"; readonly older: ReadonlyArray<MessageView>; readonly exhausted: boolean }
  | { readonly type: "scrollback/close" }
  | { readonly type: "help"; readonly open: boolean }
  | { readonly type: "notice"; readonly text: string; readonly tone: "info" | "error" }
  | { readonly type: "notice/clear" }
  | { readonly type: "system"; readonly text: string; readonly tone?: "info" | "error" }

/** Nothing known about who is online (no room open, or not connected). */
const noOnline = { online: [], onlineCount: 0, onlineCursor: null, onlineStale: false } as const

/** Adds `users` to `list`, each once. */
const withUsers = (list: ReadonlyArray<PresenceUser>, users: ReadonlyArray<PresenceUser>) => {
  const known = new Set(list.map((u) => u.user_id))
  return [...list, ...users.filter((u) => !known.has(u.user_id))]
}

/** How long a `typing` start holds without a repeat (senders repeat one every few seconds). */
export const typingHoldMs = 6_000

export const initialState = (me: Me): State => ({
  screen: "rooms",
  help: false,
  me,
  connection: { state: "connecting" },
  rooms: { entries: [], selected: 0, loading: false },
  room: null,
  messages: [],
  lastSeq: 0,
  log: [],
  outgoing: [],
  ...noOnline,
  typing: {},
  scrollback: null,
  notice: null,
  markers: new Map()
})

let logCounter = 0
const logKey = () => `l${++logCounter}`

const messageItem = (state: State, message: MessageView): LogItem => ({
  key: logKey(),
  kind: "message",
  message,
  mine: message.user_id === state.me.user_id
})

/** The open room's outgoing messages, for display. */
export const outgoingHere = (state: State) => state.outgoing.filter((o) => o.room_id === state.room?.room_id)

const updateOutgoing = (state: State, id: string, change: (o: Outgoing) => Outgoing): State => ({
  ...state,
  outgoing: state.outgoing.map((o) => (o.client_msg_id === id ? change(o) : o))
})

const onChatMessage = (state: State, message: MessageView): State => {
  // Our own message arrived: it leaves `outgoing` whether or not its ack came first.
  const outgoing = state.outgoing.filter(
    (o) => !(message.user_id === state.me.user_id && o.client_msg_id === message.client_msg_id)
  )
  if (state.room === null || message.room_id !== state.room.room_id || message.seq <= state.lastSeq) {
    return outgoing.length === state.outgoing.length ? state : { ...state, outgoing }
  }
  if (message.kind !== "message") return onChange({ ...state, outgoing }, message)
  const { [message.user_id]: _, ...typing } = state.typing
  const atLiveEnd = state.scrollback !== null && state.scrollback.end === state.messages.length
  return {
    ...state,
    outgoing,
    typing,
    messages: [...state.messages, message],
    lastSeq: message.seq,
    log: [...state.log, messageItem(state, message)],
    scrollback:
      atLiveEnd && state.scrollback ? { ...state.scrollback, end: state.messages.length + 1 } : state.scrollback
  }
}

/**
 * An edit or delete (an entry of the stream, after `lastSeq`): applied to the message it
 * changes, which the log prints again in its new state (the log is never redrawn).
 */
const onChange = (state: State, change: MessageView): State => {
  const i = state.messages.findIndex((m) => m.msg_id === change.target_id)
  const updated = i < 0 ? undefined : applyChange(state.messages[i]!, change)
  return {
    ...state,
    lastSeq: change.seq,
    messages: updated === undefined ? state.messages : state.messages.with(i, updated),
    log: [
      ...state.log,
      updated === undefined
        ? { key: logKey(), kind: "system", text: changeNote(change), tone: "info" }
        : messageItem(state, updated)
    ]
  }
}

/** Your read marker moved (your ack, or another session of yours): the room's count follows, never back. */
const onReadMarker = (state: State, marker: { readonly room_id: string } & ReadMarker): State => {
  const heard = state.markers.get(marker.room_id)
  const markers =
    heard !== undefined && heard.seq >= marker.seq
      ? state.markers
      : new Map(state.markers).set(marker.room_id, { seq: marker.seq, unread: marker.unread })
  let changed = false
  const entries = state.rooms.entries.map((entry) => {
    if (entry.room.room_id !== marker.room_id || marker.seq < entry.readSeq) return entry
    changed = true
    return { ...entry, readSeq: marker.seq, unread: marker.unread }
  })
  return { ...state, markers, rooms: changed ? { ...state.rooms, entries } : state.rooms }
}

/** A loaded entry, or the marker heard since its request read the room's (the newer of the two). */
const withMarker = (markers: State["markers"], entry: RoomEntry): RoomEntry => {
  const marker = markers.get(entry.room.room_id)
  return entry.joined && marker !== undefined && marker.seq > entry.readSeq
    ? { ...entry, readSeq: marker.seq, unread: marker.unread }
    : entry
}

const onEvent = (state: State, event: ServerEvent, now: number): State => {
  switch (event.type) {
    case "chat.message":
      return onChatMessage(state, event.payload)
    case "read.marker":
      return onReadMarker(state, event.payload)
    case "ack": {
      const { room_id, seq, unread } = event.payload
      if (event.payload.of === "read.mark" && room_id !== undefined && seq !== undefined && unread !== undefined) {
        return onReadMarker(state, { room_id, seq, unread })
      }
      if (event.payload.of !== "chat.message" || event.id === undefined) return state
      const msgId = event.payload.msg_id
      // Already delivered (the broadcast came before the ack): nothing left to show.
      if (msgId !== undefined && state.messages.some((m) => m.msg_id === msgId)) {
        return { ...state, outgoing: state.outgoing.filter((o) => o.client_msg_id !== event.id) }
      }
      return updateOutgoing(state, event.id, (o) => {
        const { error: _, ...rest } = o
        return { ...rest, status: "confirmed", ...(msgId === undefined ? {} : { msg_id: msgId }) }
      })
    }
    case "typing": {
      const { room_id, started, stopped } = event.payload
      if (room_id !== state.room?.room_id) return state
      const typing: Record<string, { readonly username: string; readonly until: number }> = { ...state.typing }
      for (const u of stopped) delete typing[u.user_id]
      // Our own typing may come back in a batch with others': it is not news to us.
      for (const u of started) {
        if (u.user_id !== state.me.user_id) typing[u.user_id] = { username: u.username, until: now + typingHoldMs }
      }
      return { ...state, typing }
    }
    case "presence": {
      const { room_id, online, count, next_cursor } = event.payload
      if (room_id !== state.room?.room_id) return state
      // Sent on subscribe (no id): the list starts again. A page we asked for adds to it,
      // unless the list went stale: then we asked for the first page again.
      const fresh = event.id === undefined || state.onlineStale
      return {
        ...state,
        online: fresh ? online : withUsers(state.online, online),
        onlineCount: count,
        onlineCursor: next_cursor ?? null,
        onlineStale: false
      }
    }
    case "presence.diff": {
      const { room_id, joined, left, count } = event.payload
      if (room_id !== state.room?.room_id) return state
      const gone = new Set(left.map((u) => u.user_id))
      return {
        ...state,
        online: withUsers(state.online, joined).filter((u) => !gone.has(u.user_id)),
        onlineCount: count
      }
    }
    case "presence.count":
      return event.payload.room_id === state.room?.room_id
        ? { ...state, onlineCount: event.payload.count, onlineStale: true }
        : state
    case "error": {
      const { code, message, room_id } = event.payload
      const target = event.id === undefined ? undefined : state.outgoing.find((o) => o.client_msg_id === event.id)
      if (target !== undefined) {
        return target.status === "confirmed"
          ? state
          : updateOutgoing(state, target.client_msg_id, (o) => ({
              ...o,
              status: "failed",
              error: sendError(code, message)
            }))
      }
      if (room_id !== undefined && room_id === state.room?.room_id && code === "forbidden") {
        return {
          ...state,
          ...noOnline,
          typing: {},
          notice: { text: "you can no longer read or post in this room", tone: "error" }
        }
      }
      return { ...state, notice: { text: safeText(message), tone: "error" } }
    }
    case "pong":
      return state
    // `/search` asks over HTTP; parley sends no `chat.search`, so a results frame is not its own.
    case "search.results":
      return state
  }
}

/** Why a message was not sent, for its badge: the server's message is made safe here. */
const sendError = (code: string, message: string) => {
  switch (code) {
    case "rate_limited":
      return "sending too fast"
    case "overloaded":
    case "service_unavailable":
      return "the server could not store it"
    default:
      return safeText(message)
  }
}

export const reduce = (state: State, action: Action): State => {
  switch (action.type) {
    case "connection": {
      if (action.connection.state !== "offline" && action.connection.state !== "signed-out") {
        return { ...state, connection: action.connection }
      }
      // In flight when the connection went: unknown whether stored, so the user decides to retry.
      const outgoing = state.outgoing.map((o) =>
        o.status === "pending" && o.sent ? { ...o, status: "failed" as const, error: "connection lost" } : o
      )
      return { ...state, connection: action.connection, outgoing, ...noOnline, typing: {} }
    }
    case "event":
      return onEvent(state, action.event, action.now)
    case "rooms/loading":
      return { ...state, rooms: { ...state.rooms, loading: true } }
    case "rooms/loaded":
      return {
        ...state,
        rooms: {
          entries: action.entries.map((entry) => withMarker(state.markers, entry)),
          loading: false,
          selected: Math.min(state.rooms.selected, Math.max(0, action.entries.length - 1))
        }
      }
    case "rooms/select": {
      const count = state.rooms.entries.length
      if (count === 0) return state
      const selected = (((state.rooms.selected + action.delta) % count) + count) % count
      return { ...state, rooms: { ...state.rooms, selected } }
    }
    case "rooms/show":
      return { ...state, screen: "rooms", scrollback: null }
    case "room/opened": {
      // History shows messages in their current state; its edits and deletes only count for `seq`.
      const entries = [...action.history].sort((a, b) => a.seq - b.seq)
      const history = entries.filter((m) => m.kind === "message")
      const next: State = {
        ...state,
        screen: "chat",
        room: action.room,
        messages: history,
        lastSeq: entries.at(-1)?.seq ?? 0,
        ...noOnline,
        typing: {},
        scrollback: null,
        notice: null
      }
      return {
        ...next,
        log: [
          ...state.log,
          { key: logKey(), kind: "room", name: roomLabel(action.room) },
          ...history.map((m) => messageItem(next, m))
        ]
      }
    }
    case "room/closed":
      return {
        ...state,
        screen: "rooms",
        room: null,
        messages: [],
        lastSeq: 0,
        ...noOnline,
        typing: {},
        scrollback: null
      }
    case "send/queued":
      return { ...state, outgoing: [...state.outgoing, action.outgoing] }
    case "send/sent":
      return updateOutgoing(state, action.client_msg_id, (o) => ({ ...o, sent: true }))
    case "send/failed":
      return updateOutgoing(state, action.client_msg_id, (o) =>
        o.status === "pending" ? { ...o, status: "failed", error: action.error } : o
      )
    case "send/retry":
      return updateOutgoing(state, action.client_msg_id, (o) => {
        if (o.status !== "failed") return o
        const { error: _, ...rest } = o
        return { ...rest, status: "pending", sent: false }
      })
    case "typing/expire": {
      const entries = Object.entries(state.typing)
      const kept = entries.filter(([, t]) => t.until > action.now)
      return kept.length === entries.length ? state : { ...state, typing: Object.fromEntries(kept) }
    }
    case "scrollback/open":
      return state.room === null || state.scrollback !== null
        ? state
        : { ...state, scrollback: { end: state.messages.length, loading: false, exhausted: false } }
    case "scrollback/move": {
      if (state.scrollback === null) return state
      const length = state.messages.length
      const end = Math.max(Math.min(state.scrollback.end + action.delta, length), Math.min(action.floor, length))
      return { ...state, scrollback: { ...state.scrollback, end } }
    }
    case "scrollback/loading":
      return state.scrollback === null ? state : { ...state, scrollback: { ...state.scrollback, loading: true } }
    case "scrollback/loaded": {
      if (state.scrollback === null) return state
      // Older pages go in front; anything already held (a page boundary) is not doubled.
      const known = new Set(state.messages.map((m) => m.msg_id))
      const older = [...action.older]
        .filter((m) => m.kind === "message" && !known.has(m.msg_id))
        .sort((a, b) => a.seq - b.seq)
      return {
        ...state,
        messages: [...older, ...state.messages],
        scrollback: { end: state.scrollback.end + older.length, loading: false, exhausted: action.exhausted }
      }
    }
    case "scrollback/close":
      return { ...state, scrollback: null }
    case "help":
      return { ...state, help: action.open }
    case "notice":
      return { ...state, notice: { text: action.text, tone: action.tone } }
    case "notice/clear":
      return state.notice === null ? state : { ...state, notice: null }
    case "system":
      return {
        ...state,
        log: [...state.log, { key: logKey(), kind: "system", text: action.text, tone: action.tone ?? "info" }]
      }
  }
}

/** "alice is typing…", "alice and bob are typing…", "4 people are typing…", or "" (names made safe). */
export const typingLine = (state: State): string => {
  const names = Object.values(state.typing).map((t) => safeText(t.username))
  if (names.length === 0) return ""
  if (names.length === 1) return `${names[0]} is typing…`
  if (names.length <= 3) return `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`
  return `${names.length} people are typing…`
}
