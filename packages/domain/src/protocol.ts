/**
 * The WebSocket protocol (`/ws`), as Schema. `docs/protocol.md` explains it with examples;
 * this file is what the server decodes and encodes, and what clients and tests import.
 *
 * Every frame is one JSON object, an envelope `{type, id?, to?, after?, payload?}`. A
 * client-sent `from` is ignored: the sender is always the authenticated user.
 */
import { Schema } from "effect"
import { ClientMsgId, MessageText, MessageView, ReadMarker, ReadSeq } from "./chat.ts"
import { MessageId, RoomId, UserId } from "./ids.ts"
import { SearchPage, SearchRequest } from "./search.ts"

/** Echoed in the `ack` or `error` that answers a client event. */
export const EventId = Schema.String.check(
  Schema.isMinLength(1),
  Schema.isMaxLength(64, { message: "id must be at most 64 characters" })
)

/** What every client frame must be before its `type` is looked at. */
export const ClientEnvelope = Schema.Struct({
  type: Schema.String,
  id: Schema.optionalKey(EventId)
})

const roomEvent = <T extends string>(type: T) =>
  Schema.Struct({ type: Schema.Literal(type), id: Schema.optionalKey(EventId), to: RoomId })

export const Subscribe = roomEvent("channel.subscribe")
export const Unsubscribe = roomEvent("channel.unsubscribe")
export const TypingStart = roomEvent("typing.start")
export const TypingStop = roomEvent("typing.stop")

export const SendMessage = Schema.Struct({
  type: Schema.Literal("chat.message"),
  id: Schema.optionalKey(EventId),
  to: RoomId,
  payload: Schema.Struct({ text: MessageText, client_msg_id: Schema.optionalKey(ClientMsgId) })
})

/**
 * Edits the sender's message `msg_id` of the room. Stored as an event of the room's stream
 * (delivered as a `chat.message` with `kind: "edit"`), acked like `chat.message` with the
 * event's `msg_id` and `seq`.
 */
export const EditMessage = Schema.Struct({
  type: Schema.Literal("chat.edit"),
  id: Schema.optionalKey(EventId),
  to: RoomId,
  payload: Schema.Struct({ msg_id: MessageId, text: MessageText, client_msg_id: Schema.optionalKey(ClientMsgId) })
})

/** Deletes message `msg_id` (its author, the room's owner or admins, a site admin); like `chat.edit`. */
export const DeleteMessage = Schema.Struct({
  type: Schema.Literal("chat.delete"),
  id: Schema.optionalKey(EventId),
  to: RoomId,
  payload: Schema.Struct({ msg_id: MessageId, client_msg_id: Schema.optionalKey(ClientMsgId) })
})

/** Subscribe (if not yet), replay every message after `after` in order, then continue live. */
export const Resume = Schema.Struct({
  type: Schema.Literal("channel.resume"),
  id: Schema.optionalKey(EventId),
  to: RoomId,
  after: MessageId
})

/** A position in a room's online list: a `presence` event's `next_cursor`, sent back as it is. */
export const PresenceCursor = Schema.String.check(
  Schema.isMinLength(1),
  Schema.isMaxLength(256, { message: "cursor must be at most 256 characters" })
)

/**
 * The next page of who is online in a subscribed room (the first page, without `cursor`).
 * Answered with a `presence` event carrying the same `id`.
 */
export const PresenceList = Schema.Struct({
  type: Schema.Literal("presence.list"),
  id: Schema.optionalKey(EventId),
  to: RoomId,
  cursor: Schema.optionalKey(PresenceCursor)
})

/**
 * Moves the sender's read marker in a room forward to `seq` (members only). Acked with the
 * marker as stored and the unread count; the user's other sockets get `read.marker`.
 */
export const MarkRead = Schema.Struct({
  type: Schema.Literal("read.mark"),
  id: Schema.optionalKey(EventId),
  to: RoomId,
  // A plain struct (not the HTTP body's class): clients build frames from plain objects.
  payload: Schema.Struct({ seq: ReadSeq })
})

/**
 * Word search over the rooms the sender may read (`room_id`: one of them), newest first.
 * Answered with a `search.results` event carrying the same `id`, or an `error`.
 */
export const SearchMessages = Schema.Struct({
  type: Schema.Literal("chat.search"),
  id: Schema.optionalKey(EventId),
  payload: SearchRequest
})

/** Application-level keepalive for clients that cannot send WebSocket pings. */
export const Ping = Schema.Struct({ type: Schema.Literal("ping"), id: Schema.optionalKey(EventId) })

export const ClientEvent = Schema.Union([
  Subscribe,
  Unsubscribe,
  SendMessage,
  EditMessage,
  DeleteMessage,
  Resume,
  TypingStart,
  TypingStop,
  PresenceList,
  MarkRead,
  SearchMessages,
  Ping
])
export type ClientEvent = typeof ClientEvent.Type
export const clientEventTypes: ReadonlyArray<ClientEvent["type"]> = [
  "channel.subscribe",
  "channel.unsubscribe",
  "chat.message",
  "chat.edit",
  "chat.delete",
  "channel.resume",
  "typing.start",
  "typing.stop",
  "presence.list",
  "read.mark",
  "chat.search",
  "ping"
]

/** Codes of the `error` event. All leave the connection open. */
export const WsErrorCode = Schema.Literals([
  "invalid_event",
  "forbidden",
  "not_found",
  "rate_limited",
  /** A per-connection cap was reached (e.g. subscriptions): undo something before asking again. */
  "limit_reached",
  /** Something only members of the room may do (typing), from someone who has not joined it. */
  "not_member",
  "overloaded",
  "service_unavailable",
  "internal"
])
export type WsErrorCode = typeof WsErrorCode.Type

export const ChatMessageEvent = Schema.Struct({ type: Schema.Literal("chat.message"), payload: MessageView })

export const AckEvent = Schema.Struct({
  type: Schema.Literal("ack"),
  id: Schema.optionalKey(EventId),
  payload: Schema.Struct({
    /** The event acknowledged. */
    of: Schema.String,
    room_id: Schema.optionalKey(RoomId),
    /**
     * For `chat.message`, `chat.edit` and `chat.delete`: the stored event's id and position;
     * sent only after it is stored.
     */
    msg_id: Schema.optionalKey(MessageId),
    seq: Schema.optionalKey(Schema.Number),
    /** For `channel.resume`: how many stored messages were replayed before going live. */
    replayed: Schema.optionalKey(Schema.Number),
    /** For `read.mark`: the unread count after the marker (`seq`, as stored). */
    unread: Schema.optionalKey(Schema.Number)
  })
})

export const PresenceUser = Schema.Struct({ user_id: UserId, username: Schema.String })

/**
 * Who started and who stopped typing in a room, collected over a short window. May list the
 * receiver itself (when several users changed at once): clients skip their own `user_id`.
 */
export const TypingEvent = Schema.Struct({
  type: Schema.Literal("typing"),
  payload: Schema.Struct({ room_id: RoomId, started: Schema.Array(PresenceUser), stopped: Schema.Array(PresenceUser) })
})

/**
 * One page of who is online in a room, in username order, and how many are online in all.
 * Sent once on subscribe (the first page, no `id`) and in answer to `presence.list` (its
 * `id`); `next_cursor`, absent on the last page, asks for the next one. Changes after that
 * come as `presence.diff` or `presence.count`.
 */
export const PresenceEvent = Schema.Struct({
  type: Schema.Literal("presence"),
  id: Schema.optionalKey(EventId),
  payload: Schema.Struct({
    room_id: RoomId,
    online: Schema.Array(PresenceUser),
    count: Schema.Number,
    next_cursor: Schema.optionalKey(PresenceCursor)
  })
})

/**
 * Who came online and who went offline in a room, per user (a second tab is no change),
 * collected over a short window; `count` is how many are online after them.
 */
export const PresenceDiffEvent = Schema.Struct({
  type: Schema.Literal("presence.diff"),
  payload: Schema.Struct({
    room_id: RoomId,
    joined: Schema.Array(PresenceUser),
    left: Schema.Array(PresenceUser),
    count: Schema.Number
  })
})

/** In a room with more users online than the server's limit, only the count is sent. */
export const PresenceCountEvent = Schema.Struct({
  type: Schema.Literal("presence.count"),
  payload: Schema.Struct({ room_id: RoomId, count: Schema.Number })
})

export const ErrorEvent = Schema.Struct({
  type: Schema.Literal("error"),
  id: Schema.optionalKey(EventId),
  payload: Schema.Struct({
    code: WsErrorCode,
    message: Schema.String,
    /** Set when the server ends a subscription on its own (e.g. the user was removed from the room). */
    room_id: Schema.optionalKey(RoomId)
  })
})

/**
 * The user's read marker in a room moved (from another of their sockets, on any node, or over
 * HTTP). Markers only move forward: a client keeps the highest `seq` it has seen.
 */
export const ReadMarkerEvent = Schema.Struct({ type: Schema.Literal("read.marker"), payload: ReadMarker })

/** The answer to a `chat.search` (its `id`): one page of results. */
export const SearchResultsEvent = Schema.Struct({
  type: Schema.Literal("search.results"),
  id: Schema.optionalKey(EventId),
  payload: SearchPage
})

export const PongEvent = Schema.Struct({ type: Schema.Literal("pong"), id: Schema.optionalKey(EventId) })

export const ServerEvent = Schema.Union([
  ChatMessageEvent,
  AckEvent,
  TypingEvent,
  PresenceEvent,
  PresenceDiffEvent,
  PresenceCountEvent,
  ErrorEvent,
  ReadMarkerEvent,
  SearchResultsEvent,
  PongEvent
])
export type ServerEvent = typeof ServerEvent.Type

/**
 * Close codes. "Reconnect" codes mean the client should come back (with backoff, resuming
 * from its last `msg_id`); the others mean reconnecting as-is will fail again.
 */
export const CloseCode = {
  /** Server shutting down or restarting. Reconnect. */
  goingAway: 1001,
  /** A frame larger than the limit. Do not resend that frame. */
  messageTooBig: 1009,
  /** Unexpected server failure. Reconnect with backoff. */
  internalError: 1011,
  /** The client did not read fast enough and its outbound queue filled. Reconnect and resume. */
  tryAgainLater: 1013,
  /** The access token expired. Refresh it, then reconnect. */
  tokenExpired: 4001,
  /** The session was revoked or the account disabled. Do not reconnect. */
  sessionRevoked: 4003
} as const
