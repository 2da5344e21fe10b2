/**
 * A client frame's way through: decoded (codec), handed to its event's handler, answered
 * with exactly one `ack`, `pong` or `error`.
 */
import { type ClientEvent, clientEventTypes, type RoomId } from "@parley/domain"
import { Clock, Effect, Option } from "effect"
import type { RoomAccessResult } from "../../chat/rooms.ts"
import { lateSend } from "../../chat/send-deadline.ts"
import { decodeFrame, frameId, sendFrame } from "../codec.ts"
import { EventError, type RoomFailure, toEventError } from "../errors.ts"
import { type ConnectionState, errorEvent } from "../state.ts"
import { changeMessage, sendMessage } from "./messages.ts"
import { listOnline } from "./presence.ts"
import { markRead } from "./read-markers.ts"
import { search } from "./search.ts"
import { resume, subscribe, subscribedThenLive, unsubscribe } from "./subscriptions.ts"
import { typing } from "./typing.ts"

/**
 * Subscribing costs the server a storage read and a room join: a fixed window per connection
 * bounds how often one socket may ask. Kept in the connection (two numbers), not in the
 * `RateLimiter` store: its memory store never forgets a key, and its Redis store would add a
 * round trip to every subscribe for a limit that is about one socket anyway.
 */
const subscribeAllowed = (conn: ConnectionState) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const { subscribeRate, subscribeWindowMs } = conn.env.options
    if (now - conn.subscribeWindowStart >= subscribeWindowMs) {
      conn.subscribeWindowStart = now
      conn.subscribeCount = 0
    }
    if (conn.subscribeCount < subscribeRate) {
      conn.subscribeCount++
      return Effect.void
    }
    const retryIn = Math.max(1, Math.ceil((conn.subscribeWindowStart + subscribeWindowMs - now) / 1000))
    return Effect.fail(
      new EventError({
        code: "rate_limited",
        message: `too many subscribe/unsubscribe requests; retry in ${retryIn} s`
      })
    )
  })

const handle = (
  conn: ConnectionState,
  event: ClientEvent,
  arrivedAt: number
): Effect.Effect<void, RoomFailure | EventError> => {
  switch (event.type) {
    case "ping":
      return conn.reply(event.id === undefined ? { type: "pong" } : { type: "pong", id: event.id })
    case "channel.subscribe":
      return subscribeAllowed(conn).pipe(
        Effect.andThen(
          subscribedThenLive(conn, event.id, event.to, subscribe(conn, event.to), () => ({
            of: event.type,
            room_id: event.to
          }))
        )
      )
    case "channel.unsubscribe":
      return subscribeAllowed(conn).pipe(
        Effect.andThen(unsubscribe(conn, event.to)),
        Effect.andThen(conn.ack(event.id, { of: event.type, room_id: event.to }))
      )
    case "channel.resume":
      return subscribeAllowed(conn).pipe(
        Effect.andThen(
          subscribedThenLive(conn, event.id, event.to, resume(conn, event.to, event.after), (replayed) => ({
            of: event.type,
            room_id: event.to,
            replayed
          }))
        )
      )
    case "chat.message":
      return sendMessage(conn, event, arrivedAt + conn.env.options.sendDeadlineMs)
    case "chat.edit":
    case "chat.delete":
      return changeMessage(conn, event, arrivedAt + conn.env.options.sendDeadlineMs)
    case "typing.start":
    case "typing.stop":
      return typing(conn, event)
    case "presence.list":
      return listOnline(conn, event)
    case "read.mark":
      return markRead(conn, event)
    case "chat.search":
      return search(conn, event)
  }
}

const internal = new EventError({ code: "internal", message: "internal error" })

/** The answer to one decoded event: its handler's, or the error it failed with. */
const answer = (conn: ConnectionState, event: ClientEvent, arrivedAt: number): Effect.Effect<void> =>
  handle(conn, event, arrivedAt).pipe(Effect.catch((e) => conn.error(event.id, toEventError(e))))

/** Span names per event type, made once. */
const spanNames = new Map(clientEventTypes.map((type) => [type, `ws ${type}`]))

const attributesOf = (conn: ConnectionState, event: ClientEvent) => {
  const attributes: Record<string, unknown> = {
    request_id: conn.connId,
    "ws.event.type": event.type,
    "user.id": conn.userId
  }
  if (event.id !== undefined) attributes["ws.event_id"] = event.id
  if ("to" in event) attributes.room_id = event.to
  return attributes
}

/**
 * The event's span, when spans are exported: the root of a message's trace (through the room
 * actor, storage, the broker and the deliveries). A frame has no HTTP request id: its
 * `request_id` is the connection's id (unique across nodes), and `ws.event_id` the client's `id`.
 */
const traced = (conn: ConnectionState, event: ClientEvent, arrivedAt: number): Effect.Effect<void> =>
  Effect.withSpan(answer(conn, event, arrivedAt), spanNames.get(event.type) ?? "ws event", {
    kind: "server",
    attributes: attributesOf(conn, event),
    captureStackTrace: false
  })

/**
 * Decodes one frame (`null`: a binary one) that arrived at `arrivedAt` (epoch ms) and answers
 * it: an `ack`, a `pong` or an `error`, never silence.
 */
export const receive = (conn: ConnectionState, data: string | null, arrivedAt: number): Effect.Effect<void> =>
  Effect.flatMap(decodeFrame(data), (event) =>
    conn.env.traced ? traced(conn, event, arrivedAt) : answer(conn, event, arrivedAt)
  ).pipe(
    Effect.catch((e) => conn.error(frameId(data), e)),
    Effect.catchDefect((defect) =>
      Effect.andThen(
        Effect.logError("websocket event failed", defect).pipe(
          Effect.annotateLogs({ request_id: conn.connId, user_id: conn.userId })
        ),
        conn.error(frameId(data), internal)
      )
    )
  )

/**
 * What the connection's inbound queue runs for a frame that arrived at `arrivedAt`. A frame
 * that has to wait (`waits`: another is running) may wait on one that hangs: a subscribe whose
 * storage read stalls holds the queue for as long as that read's own timeout. A send must be
 * answered by its deadline all the same, so such a frame is also handed to the node's
 * deadlines: still queued at its deadline and a send, it is answered `service_unavailable`
 * there and never handed to its room; its turn then passes. Any other frame keeps its place.
 */
export const queuedFrame = (
  conn: ConnectionState,
  data: string | null,
  arrivedAt: number,
  waits: boolean
): Effect.Effect<void> => {
  if (!waits) return receive(conn, data, arrivedAt)
  let state: "queued" | "running" | "answered" = "queued"
  // The entry stays in the deadline queue until its deadline: it keeps the text only while queued.
  let queued: string | null = data
  conn.env.deadlines.add({
    deadlineAt: arrivedAt + conn.env.options.sendDeadlineMs,
    answered: false,
    late: () => {
      if (state !== "queued") return
      const send = sendFrame(queued)
      if (Option.isNone(send)) return
      state = "answered"
      queued = null
      conn.replyNow(errorEvent(send.value.id, toEventError(lateSend)))
    }
  })
  return Effect.suspend(() => {
    if (state === "answered") return Effect.void
    state = "running"
    const frame = queued
    queued = null
    return receive(conn, frame, arrivedAt)
  })
}

/** The answer to a frame that found the inbound queue full: still one answer per frame. */
export const overflow = (conn: ConnectionState, data: string | null) =>
  conn.fork(
    conn.error(frameId(data), new EventError({ code: "rate_limited", message: "too many events in flight; slow down" }))
  )

/**
 * The `room_id` of the URL: answers no frame of the client's, so an error names the room.
 * `access` is what storage said at the upgrade, when it was read then.
 */
export const subscribeFromUrl = (
  conn: ConnectionState,
  roomId: RoomId,
  access: RoomAccessResult | null = null
): Effect.Effect<void> =>
  subscribedThenLive(conn, undefined, roomId, subscribe(conn, roomId, access), () => ({
    of: "channel.subscribe",
    room_id: roomId
  })).pipe(Effect.catch((e) => conn.error(undefined, toEventError(e), roomId)))
