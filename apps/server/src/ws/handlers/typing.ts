/**
 * `typing.start` / `typing.stop`, from members of the room only (a subscriber of a public
 * room who has not joined it gets `not_member`). What goes out, and when, is `Typing`'s
 * business: one throttle for start and stop per user and room, coalesced per room.
 */
import type { RoomId, TypingStart, TypingStop } from "@parley/domain"
import { Effect } from "effect"
import { EventError } from "../errors.ts"
import type { ConnectionState } from "../state.ts"
import { mayPost } from "./messages.ts"

const notMember = new EventError({ code: "not_member", message: "join the room before typing in it" })

/**
 * Members only. Posting needs membership too, so a yes from `mayPost` (cached, and forgotten
 * when the user's membership changes) answers most typing without a storage read; its no is
 * looked at again, because a member of an archived room may not post there but may still type.
 */
const mayType = (conn: ConnectionState, roomId: RoomId) =>
  mayPost(conn, roomId).pipe(
    Effect.catchTag("Forbidden", () =>
      Effect.flatMap(conn.env.rooms.access(conn.userId, roomId), (found) =>
        found.role === null ? Effect.fail(notMember) : Effect.void
      )
    )
  )

export const typing = Effect.fnUntraced(function* (
  conn: ConnectionState,
  event: typeof TypingStart.Type | typeof TypingStop.Type
) {
  if (conn.subscriptions?.has(event.to) !== true) {
    return yield* new EventError({ code: "forbidden", message: "subscribe to the room before typing in it" })
  }
  yield* mayType(conn, event.to)
  yield* conn.env.typing.set(
    event.to,
    { user_id: conn.userId, username: conn.user.username },
    event.type === "typing.start",
    conn.connId
  )
  yield* conn.ack(event.id, { of: event.type, room_id: event.to })
})
