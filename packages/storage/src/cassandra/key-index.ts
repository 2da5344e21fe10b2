/**
 * The retry keys of the rooms this process claimed (`key-chunks.ts`, `cql/015_keys_in_rows.cql`):
 * read when a claim returns, in the background, and awaited by the room's first lookup or
 * append; kept up to date by the appends of that claim; dropped when its actor stops. A lookup
 * for a room not claimed here (a reader's `findByClientMsgId`) reads the keys for itself.
 *
 * Reading a room's keys costs one read of each partition's statics (its closed chunks) and one
 * range of the live partition (the rows since its last closed chunk, at most about
 * `chunkRows`): a room with a year of history in 10-day partitions is about 37 reads.
 */
import type { RoomId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Deferred, Effect } from "effect"
import { StorageError } from "../errors.ts"
import { type ClientMsgKey, clientMsgKeyName, type MessageRecord } from "../messages.ts"
import { type CassandraClient, uuid } from "./client.ts"
import { type Chunk, decodeChunk, lastUnbroken, RoomKeys } from "./key-chunks.ts"
import { allRows, rowColumns, rowsByIds, toMessage } from "./message-rows.ts"
import { date, type HeadStore, long, type Where } from "./room-head-store.ts"

/** Partitions whose statics are read at once while a room's keys load. */
const partitionsAtOnce = 8

/**
 * Rooms whose keys are kept: those whose actors run here (an actor that stops releases them). Past
 * this many the least recently claimed go, and their actors' next append fails and claims again.
 */
const maxRooms = 100_000

interface Claimed {
  readonly epoch: number
  readonly keys: Deferred.Deferred<RoomKeys, StorageError>
}

export const keyIndexes = (
  db: CassandraClient["Service"],
  store: Pick<HeadStore, "lives" | "locate">,
  run: (effect: Effect.Effect<void>) => unknown
) => {
  const rooms = new Map<RoomId, Claimed>()

  const allRowsOf = (operation: string, query: string, params: ReadonlyArray<unknown>) =>
    allRows(db, operation, query, params)

  /** A partition's closed chunks that its head covers (a later one is a refused commit's: never read). */
  const closedChunks = (roomId: RoomId, bucket: number, headSeq: number | null) =>
    Effect.flatMap(
      db.execute(
        "messages.keys.chunks",
        "SELECT last_seq, key_chunks FROM room_messages WHERE room_id = ? AND bucket = ? LIMIT 1",
        [uuid(roomId), new Date(bucket)]
      ),
      (rs) =>
        Effect.try({
          try: () => {
            const row = rs.first() ?? undefined
            const covered = headSeq ?? long(row, "last_seq")
            // The driver reads a map as an object, its keys as strings.
            const stored = (row?.get("key_chunks") as Record<string, Buffer> | null | undefined) ?? {}
            return Object.entries(stored)
              .map(([firstSeq, value]) => decodeChunk(bucket, Number(firstSeq), value))
              .filter((chunk) => covered !== null && chunk.lastSeq <= covered)
              .sort((a, b) => a.firstSeq - b.firstSeq)
          },
          catch: (cause) => new StorageError({ operation: "messages.keys.chunks", cause })
        })
    )

  /** A room's keys as storage holds them, its live head being `where` at `lastSeq`, after `base`. */
  const load = Effect.fnUntraced(function* (roomId: RoomId, where: Where, lastSeq: number, base: number) {
    const keys = new RoomKeys()
    if (where.root) return keys
    const live = where.bucket
    const indexed = yield* allRowsOf("messages.keys.partitions", "SELECT bucket FROM room_buckets WHERE room_id = ?", [
      uuid(roomId)
    ])
    const buckets = new Set([live, ...indexed.map((row) => date(row, "bucket")!)])
    const chunks = (yield* Effect.forEach(
      buckets,
      (bucket) => closedChunks(roomId, bucket, bucket === live ? lastSeq : null),
      { concurrency: partitionsAtOnce }
    )).flat()
    for (const chunk of chunks) keys.addClosed(chunk)
    const lastClosed = lastUnbroken(
      chunks.filter((c) => c.bucket === live),
      base
    )
    const open = yield* allRowsOf(
      "messages.keys.open",
      `SELECT msg_id, seq, user_id, client_msg_id FROM room_messages WHERE room_id = ? AND bucket = ?${lastClosed === undefined ? "" : " AND msg_id > ?"}`,
      [uuid(roomId), new Date(live), ...(lastClosed === undefined ? [] : [uuid(lastClosed.lastId)])]
    )
    keys.addRows(
      live,
      open
        .filter((row) => row.get("msg_id") !== null && row.get("seq") !== null)
        .map((row) => ({
          seq: (row.get("seq") as cassandra.types.Long).toNumber(),
          id: row.get("msg_id").toString(),
          userId: row.get("user_id").toString(),
          clientMsgId: (row.get("client_msg_id") as string | null) ?? null
        }))
        .filter((row) => row.seq <= lastSeq)
        .sort((a, b) => a.seq - b.seq)
    )
    return keys
  })

  /** The stored messages among `wanted`, by key name: each candidate read where it may be, and checked. */
  const find = Effect.fnUntraced(function* (roomId: RoomId, keys: RoomKeys, wanted: ReadonlyArray<ClientMsgKey>) {
    const { rows, ranges } = keys.locate(wanted)
    const found = new Map<string, MessageRecord>()
    const keep = (rows: ReadonlyArray<cassandra.types.Row>, among: ReadonlyArray<ClientMsgKey>) => {
      const names = new Set(among.map(clientMsgKeyName))
      for (const row of rows) {
        if (row.get("seq") === null || row.get("client_msg_id") === null) continue
        const m = toMessage(roomId, row)
        const name = clientMsgKeyName({ userId: m.userId, clientMsgId: m.clientMsgId! })
        if (names.has(name)) found.set(name, m)
      }
    }
    // The open chunk's candidates are all in the live partition: one read.
    if (rows.length > 0) {
      keep(
        yield* rowsByIds(
          db,
          "messages.keys.rows",
          roomId,
          rows[0]!.bucket,
          rows.map((r) => uuid(r.id))
        ),
        rows.map((r) => r.key)
      )
    }
    const byChunk = new Map<Chunk, Array<ClientMsgKey>>()
    for (const { key, chunk } of ranges) {
      const some = byChunk.get(chunk)
      if (some === undefined) byChunk.set(chunk, [key])
      else some.push(key)
    }
    const slice = (chunk: Chunk) => [uuid(roomId), new Date(chunk.bucket), uuid(chunk.firstId), uuid(chunk.lastId)]
    yield* Effect.forEach(
      byChunk,
      ([chunk, some]) =>
        some.length === 1
          ? // One key: its row alone, the node filtering the chunk's rows.
            // Every page: a filtering read may answer a page short of its match, with more to come.
            Effect.map(
              allRowsOf(
                "messages.keys.range",
                `SELECT ${rowColumns} FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id >= ? AND msg_id <= ? AND user_id = ? AND client_msg_id = ? ALLOW FILTERING`,
                [...slice(chunk), uuid(some[0]!.userId), some[0]!.clientMsgId]
              ),
              (rows) => keep(rows, some)
            )
          : // Several (a client resending what it sent before a reconnect): the chunk's keys once, then their rows.
            Effect.gen(function* () {
              const names = new Set(some.map(clientMsgKeyName))
              const rows = yield* allRowsOf(
                "messages.keys.range",
                "SELECT msg_id, user_id, client_msg_id FROM room_messages WHERE room_id = ? AND bucket = ? AND msg_id >= ? AND msg_id <= ?",
                slice(chunk)
              )
              const ids = rows
                .filter((row) => names.has(`${row.get("user_id")}/${row.get("client_msg_id")}`))
                .map((row) => row.get("msg_id"))
              if (ids.length === 0) return
              keep(yield* rowsByIds(db, "messages.keys.rows", roomId, chunk.bucket, ids), some)
            }),
      { concurrency: partitionsAtOnce, discard: true }
    )
    return found
  })

  /** The keys of the claim of `epoch`, once read. */
  const ofClaim = (roomId: RoomId, epoch: number) =>
    Effect.suspend(() => {
      const claimed = rooms.get(roomId)
      return claimed === undefined || claimed.epoch !== epoch
        ? Effect.fail(
            new StorageError({
              operation: "messages.keys",
              cause: new Error("this claim's keys are no longer kept here; claim again")
            })
          )
        : Deferred.await(claimed.keys)
    })

  /** The room's keys: its claim's here, or read now from storage. */
  const current = (roomId: RoomId) =>
    Effect.suspend(() => {
      const claimed = rooms.get(roomId)
      if (claimed !== undefined) return Deferred.await(claimed.keys)
      return Effect.flatMap(store.locate(roomId, "messages.keys.head"), ({ head, where }) =>
        load(roomId, where, head?.lastSeq ?? 0, head?.base ?? 0)
      )
    })

  return {
    /** A claim here that has just returned: its keys are read in the background (a later claim's are kept). */
    claimed: (roomId: RoomId, epoch: number) => {
      const current = rooms.get(roomId)
      const live = store.lives.get(roomId)
      if ((current !== undefined && current.epoch > epoch) || live === undefined || live.epoch !== epoch) return
      const keys = Deferred.makeUnsafe<RoomKeys, StorageError>()
      rooms.delete(roomId)
      rooms.set(roomId, { epoch, keys })
      if (rooms.size > maxRooms) rooms.delete(rooms.keys().next().value!)
      run(
        Effect.exit(load(roomId, live.where, live.lastSeq, live.base)).pipe(
          Effect.flatMap((exit) =>
            Effect.sync(() => {
              // A failed read is not kept: lookups read for themselves, and the claim's next append
              // fails (its keys are gone), so its actor claims again and reads them anew.
              if (exit._tag === "Failure" && rooms.get(roomId)?.keys === keys) rooms.delete(roomId)
              Deferred.doneUnsafe(keys, exit)
            })
          )
        )
      )
    },
    released: (roomId: RoomId, epoch: number) => {
      if (rooms.get(roomId)?.epoch === epoch) rooms.delete(roomId)
    },
    ofClaim,
    /** The stored messages of `wanted`, by key name. */
    find: (roomId: RoomId, wanted: ReadonlyArray<ClientMsgKey>) =>
      wanted.length === 0
        ? Effect.succeed(new Map<string, MessageRecord>())
        : Effect.flatMap(current(roomId), (keys) => find(roomId, keys, wanted))
  }
}
