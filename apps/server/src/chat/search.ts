/**
 * Message search as a user may run it. The rules: the rooms searched are exactly the rooms
 * the caller may read. Without `room_id`, the rooms they have joined; with it, that room if
 * `ChatRooms.access` lets them read it (a public room they have not joined is readable; a
 * private room they are not in is `not_found`, as everywhere). Storage searches only the
 * rooms it is given, so a result can never come from a room the caller cannot read.
 */
import {
  type MessageId,
  type NotFound,
  type RoomId,
  SearchPage,
  type ServiceUnavailable,
  type UserId
} from "@parley/domain"
import { MessageSearch, queryTerms, Rooms as RoomStore } from "@parley/storage"
import { Context, Effect, Layer } from "effect"
import { unavailable } from "../storage-errors.ts"
import { toMessageView } from "../views/chat.ts"
import { ChatRooms } from "./rooms.ts"

const defaultLimit = 20
/** Joined rooms read per page of the caller's room list. */
const roomsPerRead = 100

export interface SearchInput {
  readonly q: string
  readonly room_id?: RoomId | undefined
  readonly before?: MessageId | undefined
  readonly limit?: number | undefined
}

export class ChatSearch extends Context.Service<
  ChatSearch,
  {
    readonly search: (caller: UserId, input: SearchInput) => Effect.Effect<SearchPage, NotFound | ServiceUnavailable>
  }
>()("parley/server/chat/ChatSearch") {
  static readonly layer = Layer.effect(
    ChatSearch,
    Effect.gen(function* () {
      const rooms = yield* ChatRooms
      const store = yield* RoomStore
      const index = yield* MessageSearch

      const joined = Effect.fnUntraced(function* (caller: UserId) {
        const ids: Array<RoomId> = []
        let after: RoomId | null = null
        for (;;) {
          const page: {
            readonly items: ReadonlyArray<{ readonly room: { readonly id: RoomId } }>
            readonly next: RoomId | null
          } = yield* store.listForUser(caller, { after, limit: roomsPerRead })
          ids.push(...page.items.map(({ room }) => room.id))
          if (page.next === null) return ids
          after = page.next
        }
      })

      return ChatSearch.of({
        search: Effect.fn("ChatSearch.search")(function* (caller, input) {
          const terms = queryTerms(input.q)
          // `SearchText` refuses blank and punctuation-only text (400); what passes it without
          // a letter or digit (an emoji alone) holds no word, so no message holds them all.
          if (terms.length === 0) return new SearchPage({ results: [], next_cursor: null })
          // The room given must be readable by the caller (404 otherwise); else their joined rooms.
          const searched =
            input.room_id === undefined
              ? yield* unavailable(joined(caller))
              : [(yield* rooms.access(caller, input.room_id)).room.id]
          const limit = input.limit ?? defaultLimit
          // One more than asked tells whether a next page exists, so the last page has no cursor.
          const found = yield* unavailable(
            index.search({ rooms: searched, terms, before: input.before ?? null, limit: limit + 1 })
          )
          const results = found.slice(0, limit)
          return new SearchPage({
            results: results.map(toMessageView),
            next_cursor: found.length > limit ? results.at(-1)!.id : null
          })
        })
      })
    })
  )
}
