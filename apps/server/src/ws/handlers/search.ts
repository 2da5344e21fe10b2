/**
 * `chat.search`: word search over the rooms the sender may read (`ChatSearch` holds the
 * rules), answered with `search.results` carrying the event's `id`. A `room_id` the sender
 * may not read is refused like every other room event (`forbidden`, revealing nothing).
 * Searches count against the same per-user limit as over HTTP (`RATE_SEARCHES_PER_USER`).
 */
import type { SearchMessages } from "@parley/domain"
import { Effect } from "effect"
import { EventError } from "../errors.ts"
import type { ConnectionState } from "../state.ts"

export const search = (conn: ConnectionState, event: typeof SearchMessages.Type) =>
  conn.env.limits.search(conn.userId).pipe(
    Effect.catchTag("RateLimited", (e) =>
      Effect.fail(
        new EventError({ code: "rate_limited", message: `too many searches; retry in ${e.retryAfterSeconds} s` })
      )
    ),
    Effect.andThen(conn.env.search.search(conn.userId, event.payload)),
    Effect.flatMap((page) =>
      conn.reply(
        event.id === undefined
          ? { type: "search.results", payload: page }
          : { type: "search.results", id: event.id, payload: page }
      )
    )
  )
