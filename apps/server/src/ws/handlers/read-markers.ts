/**
 * `read.mark`: moves the sender's read marker in a room (members only) and acks it as stored,
 * with the unread count. The user's other sockets, on every node, get `read.marker`
 * (`ChatRooms.markRead` tells them; this socket is left out: it has the ack).
 */
import type { MarkRead } from "@parley/domain"
import { Effect } from "effect"
import { EventError } from "../errors.ts"
import type { ConnectionState } from "../state.ts"

export const markRead = (conn: ConnectionState, event: typeof MarkRead.Type) =>
  conn.env.limits.readMark(conn.userId).pipe(
    Effect.catchTag("RateLimited", (e) =>
      Effect.fail(
        new EventError({ code: "rate_limited", message: `too many read markers; retry in ${e.retryAfterSeconds} s` })
      )
    ),
    Effect.andThen(conn.env.rooms.markRead(conn.userId, event.to, event.payload.seq, conn.connId)),
    Effect.catchTag("NotMember", (e) => Effect.fail(new EventError({ code: "not_member", message: e.error.message }))),
    Effect.flatMap((marker) =>
      conn.ack(event.id, { of: event.type, room_id: marker.room_id, seq: marker.seq, unread: marker.unread })
    )
  )
