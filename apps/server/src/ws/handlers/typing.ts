/** `typing.start` / `typing.stop`: throttled per room, forwarded to the room's subscribers. */
import type { TypingStart, TypingStop } from "@parley/domain"
import { Clock, Effect } from "effect"
import { EventError } from "../errors.ts"
import type { ConnectionState } from "../state.ts"

export const typing = Effect.fnUntraced(function* (
  conn: ConnectionState,
  event: typeof TypingStart.Type | typeof TypingStop.Type
) {
  if (conn.subscriptions?.has(event.to) !== true) {
    return yield* new EventError({ code: "forbidden", message: "subscribe to the room before typing in it" })
  }
  const now = yield* Clock.currentTimeMillis
  const publish = (typing: boolean) =>
    conn.env.broker
      .publish(event.to, { kind: "typing", user_id: conn.userId, username: conn.user.username, typing })
      .pipe(Effect.catchCause((cause) => Effect.logWarning("typing broadcast failed", cause)))
  if (event.type === "typing.start") {
    // At most one start per interval goes out; the rest are acknowledged and dropped.
    if (now - (conn.typingSentAt?.get(event.to) ?? 0) >= conn.env.options.typingIntervalMs) {
      conn.typingSentAt ??= new Map()
      conn.typingSentAt.set(event.to, now)
      yield* publish(true)
    }
  } else if (conn.typingSentAt?.delete(event.to) === true) {
    // A stop goes out only to end a start that went out: stops cannot flood a room.
    yield* publish(false)
  }
  yield* conn.ack(event.id, { of: event.type, room_id: event.to })
})
