/**
 * Direct rooms on Cassandra (`cql/010_direct_rooms.cql` has the data model and the cost of
 * each operation). The pair row in `direct_rooms`, keyed by the two user ids in stored order
 * and written by an LWT, decides the pair's one room; the room's own rows follow it in one
 * logged batch, written again by whoever finds them missing.
 */
import type { RoomId, UserId } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Effect, Option } from "effect"
import type { StorageError } from "../errors.ts"
import { type DirectPair, directPair, type RoomRecord } from "../rooms.ts"
import { type CassandraClient, type Params, uuid } from "./client.ts"
import { bumpTotal } from "./totals.ts"

type Db = CassandraClient["Service"]
type DirectRoom = RoomRecord & { readonly direct: DirectPair }
type Writes = ReadonlyArray<{ readonly query: string; readonly params: Params }>

/** The pair's columns on `rooms`, `rooms_by_user` and `all_rooms` (null on other rooms). */
export const directColumns = "direct_ids, direct_names"

/** Values for `directColumns`; unset on an ordinary room, so it writes no tombstone. */
export const directValues = (room: RoomRecord) =>
  room.direct === undefined
    ? [cassandra.types.unset, cassandra.types.unset]
    : [room.direct.map((user) => uuid(user.id)), room.direct.map((user) => user.username)]

/** `direct`, for a row that has the pair's columns set; nothing for any other. */
export const directOf = (row: cassandra.types.Row): { readonly direct?: DirectPair } => {
  const ids = row.get("direct_ids") as ReadonlyArray<cassandra.types.Uuid> | null | undefined
  const names = row.get("direct_names") as ReadonlyArray<string> | null | undefined
  if (ids?.length !== 2) return {}
  const user = (i: 0 | 1) => ({ id: ids[i]!.toString() as UserId, username: names?.[i] ?? "" })
  return { direct: [user(0), user(1)] }
}

const pairColumns = "room_id, name, created_by, created_at, low_username, high_username"

/** The room a pair row names, as its creator stored it. */
const fromPairRow = (row: cassandra.types.Row): DirectRoom => ({
  id: row.get("room_id").toString() as RoomId,
  name: row.get("name"),
  visibility: "private",
  createdBy: row.get("created_by").toString() as UserId,
  createdAt: (row.get("created_at") as Date).getTime(),
  archived: false,
  direct: [
    { id: row.get("user_low").toString() as UserId, username: row.get("low_username") },
    { id: row.get("user_high").toString() as UserId, username: row.get("high_username") }
  ]
})

export const directRooms = (
  db: Db,
  room: {
    readonly get: (id: RoomId) => Effect.Effect<Option.Option<RoomRecord>, StorageError>
    /** The room's rows and both memberships, as one logged batch. */
    readonly writes: (room: DirectRoom) => Writes
  }
) => {
  const readPair = (pair: DirectPair) =>
    db
      .execute(
        "rooms.findDirect",
        `SELECT user_low, user_high, ${pairColumns} FROM direct_rooms WHERE user_low = ? AND user_high = ?`,
        [uuid(pair[0].id), uuid(pair[1].id)]
      )
      .pipe(Effect.map((rs) => Option.map(Option.fromNullishOr(rs.first()), fromPairRow)))

  /**
   * The rows are written with the room's creation time as their timestamp, by its creator
   * and by any repeat alike: the same cells with the same values, so a repeat changes
   * nothing, and every later change (an archive, a delete's tombstones) is newer and wins.
   * A repeat that comes late can therefore never undo an archive or bring back a deleted room.
   */
  const writeRows = (direct: DirectRoom) =>
    db.batch("rooms.createDirect.rows", room.writes(direct), { timestamp: direct.createdAt * 1000 })

  /**
   * The room a pair row names. Its rows are missing only while its creator is still writing
   * them, or when it stopped between the LWT and the batch: then they are written here.
   */
  const settle = (direct: DirectRoom) =>
    Effect.flatMap(room.get(direct.id), (stored) =>
      Option.isSome(stored) ? Effect.succeed(stored.value) : Effect.as(writeRows(direct), direct as RoomRecord)
    )

  return {
    findDirect: (a: UserId, b: UserId) =>
      Effect.flatMap(readPair(directPair({ id: a, username: "" }, { id: b, username: "" })), (pair) =>
        Option.isNone(pair) ? Effect.succeedNone : room.get(pair.value.id)
      ),

    createDirect: Effect.fn("Rooms.createDirect")(function* (candidate: DirectRoom) {
      const [low, high] = directPair(...candidate.direct)
      const direct: DirectRoom = { ...candidate, visibility: "private", archived: false, direct: [low, high] }
      // A plain read first: opening an existing pair's room, the common case, costs no Paxos round.
      const known = yield* readPair(direct.direct)
      if (Option.isSome(known)) return yield* settle(known.value)
      const claimed = yield* db.execute(
        "rooms.createDirect",
        `INSERT INTO direct_rooms (user_low, user_high, ${pairColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS`,
        [
          uuid(low.id),
          uuid(high.id),
          uuid(direct.id),
          direct.name,
          uuid(direct.createdBy),
          new Date(direct.createdAt),
          low.username,
          high.username
        ]
      )
      // Not applied: another call won the pair; the LWT answers with the winner's row.
      if (!claimed.wasApplied()) return yield* settle(fromPairRow(claimed.first()))
      yield* writeRows(direct)
      yield* bumpTotal(db, "rooms", 1)
      return direct as RoomRecord
    })
  }
}

/**
 * For a room's delete, once the room is marked `deleting`: the pair row goes (only if it
 * still names this room), so the pair's next `createDirect` makes a new room.
 */
export const deletePairRow = (db: Db, roomId: RoomId, direct: DirectPair) =>
  db.executeUnguarded(
    "rooms.delete.direct",
    "DELETE FROM direct_rooms WHERE user_low = ? AND user_high = ? IF room_id = ?",
    [uuid(direct[0].id), uuid(direct[1].id), uuid(roomId)]
  )
