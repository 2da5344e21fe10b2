import { Effect, Layer } from "effect"
import { MessageSearch } from "../search.ts"
import { SqliteDatabase } from "./database.ts"
import { columns, type MessageRow, toRecord } from "./messages.ts"
import { indexPendingOrLog } from "./search-pending.ts"
import { timeUuidKey } from "./timeuuid-key.ts"

/**
 * The FTS5 index of migration 7 holds only messages in their current state (its triggers
 * follow every edit and delete; new messages are indexed before each search, see
 * `search-pending.ts`), so a hit needs no re-check. Hits are narrowed to the
 * rooms and the cursor in `message_search_docs` (rooms bound as one JSON array), then joined
 * back to their rows. `msg_key` orders ids as Cassandra does, across rooms too.
 */
const query = `
  WITH hits AS (
    SELECT d.room_id AS hit_room, d.msg_key AS hit_key
    FROM message_search s JOIN message_search_docs d ON d.doc = s.rowid
    WHERE message_search MATCH ? AND d.room_id IN (SELECT value FROM json_each(?)) AND d.msg_key < ?
    ORDER BY d.msg_key DESC LIMIT ?
  )
  SELECT ${columns} FROM hits JOIN room_messages ON room_id = hit_room AND msg_key = hit_key
  ORDER BY msg_key DESC`

/** Every term as a quoted FTS5 string (terms are letters and digits only): all must match. */
const matchAll = (terms: ReadonlyArray<string>) => terms.map((term) => `"${term}"`).join(" ")

export const SqliteSearch = Layer.effect(
  MessageSearch,
  Effect.gen(function* () {
    const db = yield* SqliteDatabase
    // What a process that stopped left pending (`search-pending.ts`); failing, the first search tries again.
    yield* indexPendingOrLog(db)
    return MessageSearch.of({
      search: ({ rooms, terms, before, limit }) =>
        rooms.length === 0 || terms.length === 0
          ? Effect.succeed([])
          : // Answered from what is indexed if the index cannot be written now (another process
            // holds the write lock): the words of the last few hundred ms stay pending for a moment.
            indexPendingOrLog(db).pipe(
              Effect.andThen(
                db.all<MessageRow>(
                  "search.messages",
                  query,
                  matchAll(terms),
                  JSON.stringify(rooms),
                  before === null ? "g" : timeUuidKey(before),
                  limit
                )
              ),
              Effect.map((rows) => rows.map(toRecord))
            )
    })
  })
)
