/**
 * Who is online in a room, for this connection: the first page after it subscribes, and
 * `presence.list` for the pages after (or the first again). Changes reach it as
 * `presence.diff` / `presence.count` through the room, like any broadcast.
 */
import { type PresenceList, type RoomId, ServiceUnavailable } from "@parley/domain"
import { Effect } from "effect"
import { EventError } from "../errors.ts"
import type { ConnectionState } from "../state.ts"

const page = (conn: ConnectionState, roomId: RoomId, id: string | undefined, cursor: string | undefined) =>
  Effect.flatMap(conn.env.presence.page(roomId, cursor), (online) =>
    conn.reply({ type: "presence", ...(id === undefined ? {} : { id }), payload: { room_id: roomId, ...online } })
  )

/** Sent after a subscribe's ack. Best effort: without Redis for a moment, the subscription still stands. */
export const sendOnline = (conn: ConnectionState, roomId: RoomId) =>
  page(conn, roomId, undefined, undefined).pipe(
    Effect.catchCause((cause) =>
      Effect.logWarning("online list not sent", cause).pipe(Effect.annotateLogs({ room_id: roomId }))
    )
  )

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
