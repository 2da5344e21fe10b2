/**
 * `chat.search`: word search over the rooms the sender may read (`ChatSearch` holds the
 * rules), answered with `search.results` carrying the event's `id`. A `room_id` the sender
 * may not read is refused like every other room event (`forbidden`, revealing nothing).
 */
import type { SearchMessages } from "@parley/domain"
import { Effect } from "effect"
import type { ConnectionState } from "../state.ts"

export const search = (conn: ConnectionState, event: typeof SearchMessages.Type) =>
  conn.env.search
    .search(conn.userId, event.payload)
    .pipe(
      Effect.flatMap((page) =>
        conn.reply(
          event.id === undefined
            ? { type: "search.results", payload: page }
            : { type: "search.results", id: event.id, payload: page }
        )
      )
    )
