import { Schema } from "effect"
import { Limit, MessageView } from "./chat.ts"
import { MessageId, RoomId } from "./ids.ts"

/**
 * What to search for: words (runs of letters and digits; case and accents do not matter),
 * all of which a message must hold, whole. At least one letter or digit, at most 200
 * characters (code points).
 */
export const SearchText = Schema.String.check(
  Schema.isMaxCodePoints(200, { message: "q must be at most 200 characters" }),
  Schema.isPattern(/[\p{L}\p{N}]/u, { message: "q must hold at least one word (letters or digits)" })
)

/** A search, over HTTP (`GET /api/chat/search`, a query string) and WebSocket (`chat.search`). */
const searchFields = {
  q: SearchText,
  /** Only this room (one the caller may read); without it, every room the caller has joined. */
  room_id: Schema.optionalKey(RoomId),
  /** Results strictly older than this `msg_id` (the previous page's `next_cursor`). */
  before: Schema.optionalKey(MessageId)
}

export const SearchQuery = Schema.Struct({ ...searchFields, limit: Schema.optionalKey(Limit) })

/** The WebSocket `chat.search` payload: `limit` is a number there, 1 to 100. */
export const SearchRequest = Schema.Struct({
  ...searchFields,
  limit: Schema.optionalKey(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 }, { message: "limit must be from 1 to 100" }))
  )
})

/** Messages holding every word, newest first, in their current state (deleted ones never). */
export class SearchPage extends Schema.Class<SearchPage>("SearchPage")({
  results: Schema.Array(MessageView),
  /** Pass as `before` for the next page; null when there is none. */
  next_cursor: Schema.NullOr(MessageId)
}) {}
