import type { MessageId, RoomId } from "@parley/domain"
import { Context, type Effect } from "effect"
import type { StorageError } from "./errors.ts"
import type { MessageRecord } from "./messages.ts"

/** What to look for, and where. */
export interface SearchQuery {
  /** The rooms to search (the caller's readable ones: storage checks no access). */
  readonly rooms: ReadonlyArray<RoomId>
  /** The query's words, from `queryTerms` (`search-terms.ts`): each must be in a result. Not empty. */
  readonly terms: ReadonlyArray<string>
  /** Only messages strictly older than this id (any TIMEUUID), or from the newest when null. */
  readonly before: MessageId | null
  /** 1 to 100. */
  readonly limit: number
}

/**
 * Word search over messages (see `cql/008_search.cql` and SQLite migration 7). Results are
 * messages (never edits or deletes, never a deleted message) in their current state: an
 * edited message is found by its new words, no longer by words only its old text had.
 */
export class MessageSearch extends Context.Service<
  MessageSearch,
  {
    /**
     * At most `limit` messages of `rooms` holding every term, newest first (by id across
     * rooms); the last one's id is the cursor for the next page.
     */
    readonly search: (query: SearchQuery) => Effect.Effect<ReadonlyArray<MessageRecord>, StorageError>
  }
>()("parley/storage/MessageSearch") {}
