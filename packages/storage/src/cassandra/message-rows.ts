import type { MessageId, MessageKind, RoomId, UserId } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Effect } from "effect"
import type { MessageRecord } from "../messages.ts"
import { addMessageTerms, messageTerms } from "../search-terms.ts"
import { type CassandraClient, uuid } from "./client.ts"

/** Selected from both `room_messages` and `room_messages_by_client_id`, which share them. */
export const messageColumns = "msg_id, seq, user_id, username, content, client_msg_id, created_at"

/** `room_messages` only (`cql/007_edits.cql`): what an edit or delete is, and a message's state. */
export const rowColumns = `${messageColumns}, kind, target_id, edited_at, deleted_by`

/** Values for `messageColumns`. An absent client id is left unset: a bound null would write a tombstone. */
export const messageValues = (m: MessageRecord) => [
  cassandra.types.Uuid.fromString(m.id),
  m.seq,
  cassandra.types.Uuid.fromString(m.userId),
  m.username,
  m.text,
  m.clientMsgId ?? cassandra.types.unset,
  new Date(m.createdAt)
]

/**
 * Values for `rowColumns`. A plain message leaves the four edit columns unset (a null `kind`
 * reads as "message"), so it writes exactly what it wrote before edits existed.
 */
export const rowValues = (m: MessageRecord) => [
  ...messageValues(m),
  m.kind === "message" ? cassandra.types.unset : m.kind,
  m.targetId === null ? cassandra.types.unset : cassandra.types.Uuid.fromString(m.targetId),
  m.editedAt === null ? cassandra.types.unset : new Date(m.editedAt),
  m.deletedBy === null ? cassandra.types.unset : cassandra.types.Uuid.fromString(m.deletedBy)
]

/**
 * A message's words for search (`cql/011_search_in_rows.cql`, `cql/013_search_per_batch.cql`):
 * those of its current text while it is a message; none for a deleted message or an edit or
 * delete entry.
 */
export const rowTerms = (m: MessageRecord): ReadonlyArray<string> => (hasTerms(m) ? messageTerms(m.text) : [])

const hasTerms = (m: MessageRecord) => m.kind === "message" && m.deletedBy === null

/**
 * A message's words as a bound `terms` of its own row (rows written as 011 wrote them: a root's
 * pending batch from before 005); none left unset, since an empty set writes a tombstone.
 */
export const termsValue = (m: MessageRecord) => {
  const terms = rowTerms(m)
  return terms.length === 0 ? cassandra.types.unset : terms
}

/** Rows indexed together by their last one (`cql/013_search_per_batch.cql`). */
export const termsChunk = 128

/** A run of consecutive rows indexed by its last one: their indexes and distinct words. */
export interface SearchChunk {
  readonly first: number
  readonly last: number
  readonly words: ReadonlyArray<string>
}

/** Consecutive rows in chunks of at most `termsChunk` (`cql/013`), with each chunk's words. */
export const searchChunks = (rows: ReadonlyArray<MessageRecord>): ReadonlyArray<SearchChunk> => {
  const chunks: Array<SearchChunk> = []
  for (let first = 0; first < rows.length; first += termsChunk) {
    const last = Math.min(first + termsChunk, rows.length) - 1
    const words = new Set<string>()
    for (let i = first; i <= last; i++) {
      const m = rows[i]!
      if (hasTerms(m)) addMessageTerms(words, m.text)
    }
    chunks.push({ first, last, words: [...words] })
  }
  return chunks
}

/**
 * The `terms` and `terms_from` values of a group commit's rows, in order (`cql/013`): each
 * chunk's last row holding its messages' words and its first id (none for a chunk of one), the
 * other rows nothing (unset, so no tombstone).
 */
export const chunkSearchValues = (rows: ReadonlyArray<MessageRecord>): ReadonlyArray<readonly [unknown, unknown]> => {
  const values: Array<readonly [unknown, unknown]> = rows.map(() => [cassandra.types.unset, cassandra.types.unset])
  for (const { first, last, words } of searchChunks(rows)) {
    values[last] = [
      words.length === 0 ? cassandra.types.unset : words,
      first === last ? cassandra.types.unset : cassandra.types.Uuid.fromString(rows[first]!.id)
    ]
  }
  return values
}

const idOrNull = (row: cassandra.types.Row, column: string) =>
  (row.get(column) as { toString(): string } | null | undefined)?.toString() ?? null

export const epochMs = (row: cassandra.types.Row, column: string) => (row.get(column) as Date).getTime()

/** A row of `room_messages` or of a client-id table (which has no edit columns: a message). */
export const toMessage = (roomId: RoomId, row: cassandra.types.Row): MessageRecord => ({
  roomId,
  id: row.get("msg_id").toString() as MessageId,
  seq: (row.get("seq") as cassandra.types.Long).toNumber(),
  kind: (row.get("kind") as MessageKind | null | undefined) ?? "message",
  targetId: idOrNull(row, "target_id") as MessageId | null,
  userId: row.get("user_id").toString() as UserId,
  username: row.get("username"),
  text: row.get("content"),
  clientMsgId: row.get("client_msg_id") ?? null,
  createdAt: epochMs(row, "created_at"),
  editedAt: (row.get("edited_at") as Date | null | undefined)?.getTime() ?? null,
  deletedBy: idOrNull(row, "deleted_by") as UserId | null
})

const rowsPage = 5000

/** Every row of a query, page by page: a result larger than a page is never cut short. */
export const allRows = Effect.fnUntraced(function* (
  db: CassandraClient["Service"],
  operation: string,
  query: string,
  params: ReadonlyArray<unknown>,
  pageSize = rowsPage
) {
  const rows: Array<cassandra.types.Row> = []
  let pageState: string | undefined
  do {
    const rs: cassandra.types.ResultSet = yield* db.execute(operation, query, params, {
      fetchSize: pageSize,
      ...(pageState === undefined ? {} : { pageState })
    })
    rows.push(...rs.rows)
    pageState = rs.pageState ?? undefined
  } while (pageState !== undefined)
  return rows
})

/** The rows of one partition with these ids, all of them (a retry's candidates may be thousands). */
export const rowsByIds = (
  db: CassandraClient["Service"],
  operation: string,
  roomId: RoomId,
  bucket: number,
  ids: ReadonlyArray<unknown>
) =>
  allRows(db, operation, `SELECT ${rowColumns} FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id IN ?`, [
    uuid(roomId),
    new Date(bucket),
    ids
  ])
