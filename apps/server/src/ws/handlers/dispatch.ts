/**
 * A client frame's way through: decoded (codec), handed to its event's handler, answered
 * with exactly one `ack`, `pong` or `error`.
 */
import type { ClientEvent, RoomId } from "@parley/domain"
import { Effect } from "effect"
import { decodeFrame, frameId } from "../codec.ts"
import { EventError, type RoomFailure, toEventError } from "../errors.ts"
import type { ConnectionState } from "../state.ts"
import { sendMessage } from "./messages.ts"
import { resume, subscribe, unsubscribe } from "./subscriptions.ts"
import { typing } from "./typing.ts"

const handle = (conn: ConnectionState, event: ClientEvent): Effect.Effect<void, RoomFailure | EventError> => {
  switch (event.type) {
    case "ping":
      return conn.reply(event.id === undefined ? { type: "pong" } : { type: "pong", id: event.id })
    case "channel.subscribe":
      return Effect.andThen(subscribe(conn, event.to, false), conn.ack(event.id, { of: event.type, room_id: event.to }))
    case "channel.unsubscribe":
      return Effect.andThen(unsubscribe(conn, event.to), conn.ack(event.id, { of: event.type, room_id: event.to }))
    case "channel.resume":
      return Effect.flatMap(resume(conn, event.to, event.after), (replayed) =>
        conn.ack(event.id, { of: event.type, room_id: event.to, replayed })
      )
    case "chat.message":
      return sendMessage(conn, event)
    case "typing.start":
    case "typing.stop":
      return typing(conn, event)
  }
}

const internal = new EventError({ code: "internal", message: "internal error" })

/** Decodes one frame (`null`: a binary one) and answers it: an `ack`, a `pong` or an `error`, never silence. */
export const receive = (conn: ConnectionState, data: string | null): Effect.Effect<void> =>
  Effect.flatMap(decodeFrame(data), (event) =>
    handle(conn, event).pipe(Effect.catch((e) => conn.error(event.id, toEventError(e))))
  ).pipe(
    Effect.catch((e) => conn.error(frameId(data), e)),
    Effect.catchDefect((defect) =>
      Effect.andThen(Effect.logError("websocket event failed", defect), conn.error(frameId(data), internal))
    )
  )

/** The answer to a frame that found the inbound queue full: still one answer per frame. */
export const overflow = (conn: ConnectionState, data: string | null) =>
  conn.fork(
    conn.error(frameId(data), new EventError({ code: "rate_limited", message: "too many events in flight; slow down" }))
  )

/** The `room_id` of the URL: answers no frame of the client's, so an error names the room. */
export const subscribeFromUrl = (conn: ConnectionState, roomId: RoomId): Effect.Effect<void> =>
  subscribe(conn, roomId, false).pipe(
    Effect.andThen(conn.ack(undefined, { of: "channel.subscribe", room_id: roomId })),
    Effect.catch((e) => conn.error(undefined, toEventError(e), roomId))
  )
