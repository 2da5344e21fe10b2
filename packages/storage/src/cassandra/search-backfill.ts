/**
 * Migration 011's backfill (`cql/011_search_in_rows.cql`): the `terms` of every message stored
 * before message rows carried them, so an upgraded keyspace's history is found like new
 * messages. First it waits for the new index to be built over the rows already there.
 *
 * It walks the `rooms` table page by page, each room's message partitions (every key in
 * `room_buckets`, which lists pre-005 windows and 005 partitions alike, plus any partition
 * reached through `room_heads.next_bucket` or a partition's static `next_bucket` but not
 * listed yet: a crash between a rollover and its `room_buckets` row leaves one such until the
 * next claim), and pages through each partition, giving each row that is a message (null
 * kind), not deleted and without `terms` the words of its current text. An edit needs nothing
 * of its own: its target row already holds the text it set.
 *
 * Each row's words are written with the write time of its text (`USING TIMESTAMP`), so an edit
 * or delete made meanwhile, newer by definition, keeps its own words. Safe to repeat and to
 * run on two starting nodes at once: the same words, at the same time. Memory is one page per
 * room in flight.
 */
import type { RoomId } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Duration, Effect, Schedule } from "effect"
import { StorageError } from "../errors.ts"
import type { CassandraClient, Params } from "./client.ts"
import { epochMs, rowColumns, rowTerms, toMessage } from "./message-rows.ts"
import type { MigrationHook } from "./migrate.ts"
import { qualify } from "./qualify.ts"

type Db = CassandraClient["Service"]

/** Rows per read, of `rooms`, `room_buckets` and a message partition alike. */
const pageRows = 500
/** Rows per single-partition batch of `terms` updates. */
const rowsPerBatch = 100
/** Rooms indexed side by side: each has one page of writes in flight (a few batches). */
const roomsAtOnce = 4
/** A progress line every this many rooms. */
const logEvery = 100
/** A migration waits for no user: a bulk write under load may take long, and failing it costs a retry. */
const hookTimeout = Duration.seconds(30)

/**
 * Each request tried again a few times (all the hook's reads and writes are safe to repeat):
 * one timeout on a busy node must not end a start that has already indexed most of the
 * history (a failed start begins again from zero).
 */
const retried = <A>(attempt: Effect.Effect<A, StorageError>) =>
  Effect.retry(attempt, { schedule: Schedule.exponential("200 millis"), times: 4 })

/**
 * The storage client's interface over the migrator's driver: no circuit breaker (nothing to
 * fail fast for) and a long timeout; tables qualified with the keyspace as the client does.
 */
const hookDb = (driver: cassandra.Client, keyspace: string): Db => {
  const options = (extra?: cassandra.QueryOptions) => ({
    prepare: true,
    readTimeout: Duration.toMillis(hookTimeout),
    ...extra
  })
  const execute = (operation: string, query: string, params: Params = [], extra?: cassandra.QueryOptions) =>
    Effect.tryPromise({
      try: () => driver.execute(qualify(keyspace, query), [...params], options(extra)),
      catch: (cause) => new StorageError({ operation, cause })
    }).pipe(retried)
  const batch = (
    operation: string,
    queries: ReadonlyArray<{ readonly query: string; readonly params: Params }>,
    extra?: cassandra.QueryOptions
  ) =>
    Effect.tryPromise({
      try: () =>
        driver.batch(
          queries.map((q) => ({ query: qualify(keyspace, q.query), params: [...q.params] })),
          options(extra)
        ),
      catch: (cause) => new StorageError({ operation, cause })
    }).pipe(retried)
  return { execute, batch, executeUnguarded: execute, batchUnguarded: batch, requestTimeout: hookTimeout }
}

/** Every row of a query, one page at a time: `f` finishes with a page before the next is read. */
const eachPage = (
  db: Db,
  operation: string,
  query: string,
  params: Params,
  f: (rows: ReadonlyArray<cassandra.types.Row>) => Effect.Effect<unknown, StorageError>
) =>
  Effect.gen(function* () {
    let pageState: string | undefined
    do {
      const page = yield* db.executeUnguarded(operation, query, params, {
        fetchSize: pageRows,
        ...(pageState === undefined ? {} : { pageState })
      })
      yield* f(page.rows)
      pageState = page.pageState ?? undefined
    } while (pageState !== undefined)
  })

/**
 * A row with a message in it. A partition whose head was set up but which holds no message
 * (a poisoned successor, `cql/005_head_in_partition.cql`) reads as one row of statics only.
 */
const holdsMessage = (row: cassandra.types.Row) =>
  ["msg_id", "seq", "user_id", "content", "created_at"].every((c) => row.get(c) !== null && row.get(c) !== undefined)

const nullableMs = (row: cassandra.types.Row, column: string) =>
  row.get(column) === null || row.get(column) === undefined ? null : epochMs(row, column)

/** The `terms` update of one row, at its text's write time, or none when it needs none. */
const termsUpdate = (roomId: RoomId, bucket: Date, row: cassandra.types.Row) => {
  if (!holdsMessage(row) || row.get("terms") !== null) return []
  // The words a live write gives the row as it stands (none for an edit, a delete, a deleted message).
  const terms = rowTerms(toMessage(roomId, row))
  return terms.length === 0
    ? []
    : [
        {
          query: "UPDATE room_messages USING TIMESTAMP ? SET terms = ? WHERE room_id = ? AND bucket = ? AND msg_id = ?",
          params: [row.get("written"), terms, cassandra.types.Uuid.fromString(roomId), bucket, row.get("msg_id")]
        }
      ]
}

/** Gives one room's messages their words, partition by partition; the number of rows written. */
const indexRoom = (db: Db, roomId: RoomId) =>
  Effect.gen(function* () {
    const room = cassandra.types.Uuid.fromString(roomId)
    const partitions: Array<number> = []
    const known = new Set<number>()
    const add = (bucket: number | null) => {
      if (bucket === null || known.has(bucket)) return
      known.add(bucket)
      partitions.push(bucket)
    }
    yield* eachPage(
      db,
      "search.backfill.buckets",
      "SELECT bucket FROM room_buckets WHERE room_id = ?",
      [room],
      (rows) =>
        Effect.sync(() => {
          for (const row of rows) add(epochMs(row, "bucket"))
        })
    )
    const head = yield* db.executeUnguarded(
      "search.backfill.head",
      "SELECT next_bucket FROM room_heads WHERE room_id = ?",
      [room]
    )
    if (head.rows[0] !== undefined) add(nullableMs(head.rows[0], "next_bucket"))

    let indexed = 0
    for (let i = 0; i < partitions.length; i++) {
      const bucket = new Date(partitions[i]!)
      yield* eachPage(
        db,
        "search.backfill.messages",
        `SELECT next_bucket, ${rowColumns}, terms, WRITETIME(content) AS written FROM room_messages WHERE room_id = ? AND bucket = ?`,
        [room, bucket],
        (rows) => {
          // A static column: the same on every row of the partition, the successor once sealed.
          if (rows[0] !== undefined) add(nullableMs(rows[0], "next_bucket"))
          const updates = rows.flatMap((row) => termsUpdate(roomId, bucket, row))
          indexed += updates.length
          return Effect.forEach(
            Array.from({ length: Math.ceil(updates.length / rowsPerBatch) }, (_, b) =>
              updates.slice(b * rowsPerBatch, (b + 1) * rowsPerBatch)
            ),
            (some) => db.batchUnguarded("search.backfill.terms", some, { logged: false }),
            { concurrency: 2, discard: true }
          )
        }
      )
    }
    return indexed
  })

/** How long the hook waits for the new index to be built over the rows already stored. */
const indexBuildWait = Duration.minutes(30)

/** A node that does not yet list the index as queryable: worth asking again. */
class IndexNotReady extends Error {}

/**
 * Until every connected node's index on `terms` answers queries: each builds it in the
 * background over the rows it already stores, and refuses queries on it meanwhile. The view is
 * node-local, so each node is asked itself. A node whose view does not list the index yet (its
 * schema is still arriving) is asked again too; any other failure ends the wait.
 */
const indexQueryable = (client: cassandra.Client, db: Db, keyspace: string) =>
  Effect.forEach(
    client.getState().getConnectedHosts(),
    (host) =>
      db
        .executeUnguarded(
          "search.backfill.index",
          "SELECT is_queryable FROM system_views.sai_column_indexes WHERE keyspace_name = ? AND index_name = ?",
          [keyspace, "room_messages_terms"],
          { host }
        )
        .pipe(
          Effect.flatMap((rs) =>
            rs.rows[0]?.get("is_queryable") === true
              ? Effect.void
              : Effect.fail(new IndexNotReady(`${host.address}: the index on terms is not queryable yet`))
          ),
          Effect.retry({ while: (e) => e instanceof IndexNotReady, schedule: Schedule.spaced("1 second") }),
          Effect.timeoutOrElse({
            duration: indexBuildWait,
            orElse: () => Effect.fail(new IndexNotReady(`${host.address}: the index on terms was not built in time`))
          }),
          Effect.mapError((cause) =>
            cause instanceof IndexNotReady ? new StorageError({ operation: "search.backfill.index", cause }) : cause
          )
        ),
    { discard: true }
  )

const indexStoredMessages = (client: cassandra.Client, db: Db, keyspace: string) =>
  Effect.gen(function* () {
    yield* indexQueryable(client, db, keyspace)
    const started = Date.now()
    const done = { rooms: 0, messages: 0 }
    const progress = () =>
      `${done.rooms} rooms, ${done.messages} messages in ${((Date.now() - started) / 1000).toFixed(1)} s`
    yield* Effect.logInfo("search words (migration 011): adding them to the messages already stored")
    yield* eachPage(db, "search.backfill.rooms", "SELECT room_id, name FROM rooms", [], (rows) =>
      Effect.forEach(
        // A room without a name is a leftover of a deleted one (rooms.ts): nothing to find there.
        rows.filter((row) => row.get("name") !== null),
        (row) =>
          Effect.flatMap(indexRoom(db, row.get("room_id").toString() as RoomId), (messages) => {
            done.rooms++
            done.messages += messages
            return done.rooms % logEvery === 0
              ? Effect.logInfo(`search words (migration 011): ${progress()}`)
              : Effect.void
          }),
        { concurrency: roomsAtOnce, discard: true }
      )
    )
    yield* Effect.logInfo(`search words (migration 011): done, ${progress()}`)
  })

/**
 * The hook itself. A function declaration, initialised before any module runs: this module
 * reaches `client.ts`, which imports the migrator and so `backfill.ts`, whose table of hooks
 * names this while the cycle is still loading.
 */
export function indexStoredMessages011(client: cassandra.Client, keyspace: string): Promise<void> {
  return Effect.runPromise(indexStoredMessages(client, hookDb(client, keyspace), keyspace))
}
indexStoredMessages011 satisfies MigrationHook
