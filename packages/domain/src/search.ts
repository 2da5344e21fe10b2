import { Schema } from "effect"
import { Limit, MessageView } from "./chat.ts"
import { MessageId, RoomId } from "./ids.ts"

/**
 * A character that can be part of a word: anything but controls, spaces, ASCII and Latin-1
 * punctuation and symbols, General Punctuation and CJK spaces and marks. Written as ranges,
 * not `\p{L}`: `/openapi.json` carries the pattern, and its clients (schemathesis's Python
 * regexes among them) do not all know Unicode property classes.
 */
const notInWords = String.raw`\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\xa9\xab-\xb1\xb4\xb6-\xb8\xbb\xbf\xd7\xf7\u2000-\u206f\u3000-\u3004`
const wordCharacter = new RegExp(`[^${notInWords}]`, "u")

/**
 * What to search for: words (runs of letters and digits; case and accents do not matter),
 * all of which a message must hold, whole. At most 200 characters (code points), at least one
 * that can be part of a word: blank or punctuation alone is refused (400). Text that passes
 * but holds no letter or digit (an emoji alone) finds nothing.
 */
export const SearchText = Schema.String.check(
  Schema.isMaxCodePoints(200, { message: "q must be at most 200 characters" }),
  Schema.isPattern(wordCharacter, { message: "q must hold at least one word (letters or digits)" })
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
