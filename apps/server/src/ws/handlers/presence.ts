/**
 * Who is online in a room, for this connection: the first page after it subscribes, and
 * `presence.list` for the pages after (or the first again). Changes reach it as
 * `presence.diff` / `presence.count` through the room, like any broadcast.
 */
import { type PresenceList, type RoomId, ServiceUnavailable } from "@parley/domain"
import { Effect } from "effect"
import type { OnlinePage } from "../../realtime/presence.ts"
import { encodeReplyEvent, encodeReplyNow } from "../codec.ts"
import { EventError } from "../errors.ts"
import { corked } from "../frames.ts"
import { type AckPayload, ackEvent, type ConnectionState } from "../state.ts"

const page = (conn: ConnectionState, roomId: RoomId, id: string | undefined, cursor: string | undefined) =>
  Effect.flatMap(conn.env.presence.page(roomId, cursor), (online) =>
    conn.reply({ type: "presence", ...(id === undefined ? {} : { id }), payload: { room_id: roomId, ...online } })
  )

/**
 * A subscribe's answer: its ack, then the room's first page of who is online, in one write.
 * The page is best effort: without Redis for a moment, the subscription still stands and is acked.
 */
export const ackWithOnline = (
  conn: ConnectionState,
  id: string | undefined,
  payload: AckPayload,
  roomId: RoomId
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const presence = yield* conn.env.presence.page(roomId).pipe(
      Effect.flatMap(onlineFrame(roomId)),
      Effect.tapCause((cause) =>
        Effect.logWarning("online list not sent", cause).pipe(Effect.annotateLogs({ room_id: roomId }))
      ),
      Effect.orElseSucceed(() => null)
    )
    const ack =
      id === undefined && saysOnlyTheRoom(payload, roomId)
        ? subscribeAck(roomId, payload)
        : yield* encodeReplyEvent(ackEvent(id, payload))
    corked(conn.socket, () => {
      conn.send(ack)
      if (presence !== null) conn.send(presence)
    })
  })

/** A subscribe's ack payload naming the room and nothing else (a field added to it one day is not cached away). */
const saysOnlyTheRoom = (payload: AckPayload, roomId: RoomId) =>
  payload.of === "channel.subscribe" && payload.room_id === roomId && Object.keys(payload).length === 2

/** How many rooms' `subscribeAck` frames are kept: the most recently first encoded. */
const subscribeAcksKept = 1024
const subscribeAcks = new Map<RoomId, string>()

/**
 * The ack of a subscribe that names no event id (the URL's room, or a client that sent none):
 * it says only the room, so every join into a room gets the same bytes, encoded once.
 */
const subscribeAck = (roomId: RoomId, payload: AckPayload): string => {
  let frame = subscribeAcks.get(roomId)
  if (frame === undefined) {
    frame = encodeReplyNow(ackEvent(undefined, payload))
    if (subscribeAcks.size >= subscribeAcksKept) subscribeAcks.delete(subscribeAcks.keys().next().value!)
    subscribeAcks.set(roomId, frame)
  }
  return frame
}

/** Encoded first pages, by the page they were built from: unchanged, a page is encoded once for all its subscribers. */
const onlineFrames = new WeakMap<OnlinePage, string>()
const onlineFrame = (roomId: RoomId) => (page: OnlinePage) => {
  const cached = onlineFrames.get(page)
  if (cached !== undefined) return Effect.succeed(cached)
  return Effect.tap(encodeReplyEvent({ type: "presence", payload: { room_id: roomId, ...page } }), (frame) =>
    Effect.sync(() => onlineFrames.set(page, frame))
  )
}

export const listOnline = (conn: ConnectionState, event: typeof PresenceList.Type) => {
  if (conn.subscriptions?.has(event.to) !== true) {
    return Effect.fail(
      new EventError({ code: "forbidden", message: "subscribe to the room before listing who is online" })
    )
  }
  return page(conn, event.to, event.id, event.cursor).pipe(
    Effect.mapError((e) =>
      e._tag === "InvalidCursor"
        ? new EventError({ code: "invalid_event", message: e.message })
        : new ServiceUnavailable()
    )
  )
}
