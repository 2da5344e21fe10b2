/**
 * The one way a room's stored history is read: a page (the HTTP history endpoint) or a
 * stream of pages after a cursor (a socket's `channel.resume`, the hub's gap backfill).
 */
import { compareTimeUuid, type MessageId, type RoomId } from "@parley/domain"
import type { MessageRecord, Messages, StorageError } from "@parley/storage"
import { Effect, Option, Stream } from "effect"

/** Rows per storage read when streaming. */
export const streamPageSize = 200

export interface HistoryPage {
  readonly records: ReadonlyArray<MessageRecord>
  /** Where the next page starts; `null` on the last page. */
  readonly next: MessageId | null
}

/**
 * One page: oldest first after `after`, or newest first before `before` (from the newest
 * when both are absent); with both, oldest first between the two (neither included). One
 * extra row is read to tell whether another page follows, so the last page has no cursor.
 */
export const historyPage = (
  messages: Messages["Service"],
  roomId: RoomId,
  query: { readonly after?: MessageId | undefined; readonly before?: MessageId | undefined; readonly limit: number }
): Effect.Effect<HistoryPage, StorageError> =>
  Effect.map(
    query.after !== undefined
      ? messages.listAfter(roomId, { after: query.after, limit: query.limit + 1 })
      : messages.listBefore(roomId, { before: query.before ?? null, limit: query.limit + 1 }),
    (read) => {
      const { after, before } = query
      const rows =
        after !== undefined && before !== undefined ? read.filter((row) => compareTimeUuid(row.id, before) < 0) : read
      const records = rows.length > query.limit ? rows.slice(0, query.limit) : rows
      return { records, next: rows.length > query.limit ? records[records.length - 1]!.id : null }
    }
  )

/**
 * Every stored message after `after` (from the first when `null`), oldest first, read a page
 * at a time as the consumer pulls. With `upTo`, reading stops at the page that reaches that
 * `seq` (later messages in that page still come through: filter them if they matter).
 */
export const historyAfter = (
  messages: Messages["Service"],
  roomId: RoomId,
  after: MessageId | null,
  options: { readonly upTo?: number; readonly pageSize?: number } = {}
): Stream.Stream<MessageRecord, StorageError> => {
  const limit = options.pageSize ?? streamPageSize
  return Stream.paginate(after, (cursor: MessageId | null) =>
    Effect.map(messages.listAfter(roomId, { after: cursor, limit }), (page) => {
      const last = page[page.length - 1]
      const more =
        last !== undefined && page.length === limit && (options.upTo === undefined || last.seq < options.upTo)
      return [page, more ? Option.some<MessageId | null>(last.id) : Option.none()] as const
    })
  )
}
