/**
 * Test doubles for the chat client: domain values built through the domain Schemas, an
 * in-memory `ChatApi`, a `ChatConnection` the test opens, drops and feeds frames into, and a
 * controller wired to them.
 */
import { randomUUID } from "node:crypto"
import {
  type ClientEvent,
  MessageView,
  type RoomId,
  RoomView,
  SearchPage,
  ServerEvent,
  timeUuidFrom
} from "@parley/domain"
import { Schema } from "effect"
import type { ChatApi } from "../src/chat/api.ts"
import { ChatController, type ControllerDeps } from "../src/chat/controller.ts"
import type { ChatConnection, SocketHandlers } from "../src/chat/socket.ts"
import type { Me } from "../src/chat/state.ts"

export const alice: Me = { user_id: randomUUID(), username: "alice" }
export const bob: Me = { user_id: randomUUID(), username: "bob" }

const base = Date.parse("2026-11-30T12:00:00.000Z")
const node = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])

/**
 * Rooms made so far: each gets its own id. A random id could repeat (1 in 10,000 per pair): a
 * directory room sharing a joined room's id is then left out of the room list, and a test
 * waiting for the list fails now and then.
 */
let roomsMade = 0

export const makeRoom = (
  name: string,
  extra: Partial<{
    archived: boolean
    role: string | null
    unread: number
    read_seq: number
    visibility: string
    kind: string
    peer: { user_id: string; username: string } | null
  }> = {}
): RoomView =>
  Schema.decodeUnknownSync(RoomView)({
    room_id: timeUuidFrom(base + Math.floor(roomsMade / 10_000), roomsMade++ % 10_000, node),
    name,
    visibility: "public",
    created_by: alice.user_id,
    created_at: new Date(base).toISOString(),
    role: "member",
    archived: false,
    kind: "room",
    peer: null,
    unread: 0,
    read_seq: 0,
    last_message: null,
    ...extra
  })

/** A direct room as the server shows it to the other user of the pair: named by `peer`. */
export const makeDirectRoom = (peer: Me): RoomView =>
  makeRoom(peer.username, { kind: "direct", visibility: "private", peer, role: "member" })

/** The room's message number `seq`, ids increasing with seq. */
export const makeMessage = (
  room: RoomView,
  seq: number,
  from: Me,
  text: string,
  clientMsgId: string | null = null
): MessageView =>
  Schema.decodeUnknownSync(MessageView)({
    room_id: room.room_id,
    msg_id: timeUuidFrom(base + seq, 0, node),
    seq,
    kind: "message",
    target_id: null,
    user_id: from.user_id,
    username: from.username,
    text,
    client_msg_id: clientMsgId,
    created_at: new Date(base + seq * 60_000).toISOString(),
    edited_at: null,
    deleted_by: null
  })

export const serverEvent = (json: unknown): ServerEvent => Schema.decodeUnknownSync(ServerEvent)(json)

export const chatEvent = (message: MessageView) => serverEvent({ type: "chat.message", payload: message })

/** In-memory rooms and messages; `messagesBefore` pages newest first like the server. */
export class FakeApi implements ChatApi {
  readonly joined: Array<RoomView> = []
  readonly directory: Array<RoomView> = []
  readonly history = new Map<string, Array<MessageView>>()

  joinedRooms = async () => [...this.joined]
  publicRooms = async () => [...this.directory]
  createRoom = async (name: string) => {
    const room = makeRoom(name)
    this.joined.push(room)
    return room
  }
  joinRoom = async (roomId: string) => {
    const room = this.directory.find((r) => r.room_id === roomId)
    if (room === undefined) throw new Error("no such room")
    this.joined.push(room)
    return room
  }
  /** Direct rooms by the other user's name: the first `/dm` makes one, later ones open it. */
  readonly direct = new Map<string, RoomView>()
  openDirect = async (username: string) => {
    const known = this.direct.get(username.toLowerCase())
    if (known !== undefined) return known
    const room = makeDirectRoom({ user_id: randomUUID(), username })
    this.direct.set(username.toLowerCase(), room)
    this.joined.push(room)
    return room
  }
  leaveRoom = async (roomId: string) => {
    const i = this.joined.findIndex((r) => r.room_id === roomId)
    if (i >= 0) this.joined.splice(i, 1)
  }
  /** How many history pages were asked for. */
  historyCalls = 0
  messagesBefore = async (roomId: string, limit: number, before?: string) => {
    this.historyCalls++
    const all = this.history.get(roomId) ?? []
    const end = before === undefined ? all.length : all.findIndex((m) => m.msg_id === before)
    return all.slice(Math.max(0, end - limit), end).reverse()
  }
  /** Every search asked for; answers with the held messages of the rooms searched holding every word. */
  readonly searches: Array<{ readonly words: string; readonly roomId: string | undefined }> = []
  search = async (words: string, roomId?: string) => {
    this.searches.push({ words, roomId })
    const wanted = words.toLowerCase().split(/\s+/)
    const rooms = roomId === undefined ? this.joined.map((r) => r.room_id as string) : [roomId]
    const results = rooms
      .flatMap((id) => this.history.get(id) ?? [])
      .filter((m) => wanted.every((w) => m.text.toLowerCase().split(/\s+/).includes(w)))
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
    return new SearchPage({ results, next_cursor: null })
  }
}

/** A connection the test controls: `open()` / `drop()` / `deliver()`, and every frame sent. */
export class FakeConnection implements ChatConnection {
  readonly sent: Array<ClientEvent> = []
  handlers: SocketHandlers | undefined
  isOpen = false
  closed = false

  send = (frame: ClientEvent) => {
    if (!this.isOpen) return false
    this.sent.push(frame)
    return true
  }
  close = () => {
    this.closed = true
    this.isOpen = false
  }
  open() {
    this.isOpen = true
    this.handlers?.onOpen()
  }
  drop(reason = "connection lost") {
    this.isOpen = false
    this.handlers?.onDown(reason, 1000)
  }
  deliver(event: ServerEvent) {
    this.handlers?.onEvent(event)
  }
  /** Frames of one type, in the order sent. */
  ofType<T extends ClientEvent["type"]>(type: T) {
    return this.sent.filter((f): f is Extract<ClientEvent, { type: T }> => f.type === type)
  }
}

export const makeController = (options: { api?: FakeApi; me?: Me; deps?: Partial<ControllerDeps> } = {}) => {
  const api = options.api ?? new FakeApi()
  const connection = new FakeConnection()
  const exits: Array<{ code: number; message: string | undefined }> = []
  let ids = 0
  const controller = new ChatController({
    me: options.me ?? alice,
    api,
    connect: (handlers) => {
      connection.handlers = handlers
      return connection
    },
    logout: async () => {},
    onExit: (code, message) => void exits.push({ code, message }),
    newId: () => `c-${++ids}`,
    ...options.deps
  })
  return { controller, api, connection, exits }
}

/** Lets pending promises and React renders run until `check` holds (no clock involved). */
export const settle = async (check: () => boolean = () => true, rounds = 200) => {
  for (let i = 0; i < rounds; i++) {
    if (check()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  if (!check()) throw new Error("condition not reached")
}

export const roomIdOf = (room: RoomView): RoomId => room.room_id
