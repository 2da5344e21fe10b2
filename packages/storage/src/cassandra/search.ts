/**
 * Message search on Cassandra (`cql/013_search_per_batch.cql`, after `cql/011_search_in_rows.cql`):
 * the words of each run of at most 128 rows of a group commit are one set (`terms`) on the run's
 * last row, under a Storage-Attached Index; an edit adds its new words to its target's row. A
 * room's partitions are read newest first, as history is (`message-pages.ts`), each asked for
 * its newest rows holding every word below the cursor (`terms CONTAINS ? AND ...`), which the
 * partition's index answers without scanning it; each run found is read, and each message in
 * it checked against its current text, so an edited message is found by its new words only
 * and a deleted one never.
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
