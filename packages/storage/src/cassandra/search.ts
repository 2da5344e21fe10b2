/**
 * Message search on Cassandra (`cql/011_search_in_rows.cql`): every message row holds the words
 * of its current text (`terms`), under a Storage-Attached Index. A room's partitions are read
 * newest first, as history is (`message-pages.ts`), each asked for its newest rows holding every
 * word below the cursor (`terms CONTAINS ? AND ...`), which the partition's index answers
 * without scanning it. An edited message is found by its new words only, a deleted one never:
 * the update that changes a row's text changes its words with it.
 */
import { compareTimeUuid } from "@parley/domain"
import { Effect, Layer } from "effect"
import { MessageSearch } from "../search.ts"
import { CassandraClient } from "./client.ts"
import { messagePages } from "./message-pages.ts"

/** Rooms searched side by side. */
const roomConcurrency = 8

export const CassandraSearch = Layer.effect(
  MessageSearch,
  Effect.gen(function* () {
    const pages = messagePages(yield* CassandraClient)
    return MessageSearch.of({
      search: Effect.fn("MessageSearch.search")(function* ({ rooms, terms, before, limit }) {
        if (terms.length === 0) return []
        const perRoom = yield* Effect.forEach(
          rooms,
          (roomId) => pages.matchingBefore(roomId, terms, { before, limit }),
          { concurrency: roomConcurrency }
        )
        return perRoom
          .flat()
          .sort((a, b) => compareTimeUuid(b.id, a.id))
          .slice(0, limit)
      })
    })
  })
)
