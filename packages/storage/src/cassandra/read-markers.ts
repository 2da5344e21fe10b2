import type { RoomId, UserId } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Effect, Option } from "effect"
import { StorageError } from "../errors.ts"
import type { ReadMarkerMove } from "../rooms.ts"
import type { CassandraClient } from "./client.ts"
import { uuid } from "./client.ts"

/** A row's `read_seq`, or null when the column is null or absent (not a member). */
export const readSeqOf = (row: cassandra.types.Row): number | null => {
  const value = row.get("read_seq") as cassandra.types.Long | null | undefined
  return value === null || value === undefined ? null : value.toNumber()
}

const forward = "UPDATE rooms_by_user SET read_seq = ? WHERE user_id = ? AND room_id = ? IF read_seq < ?"
// A row from before `cql/009_read_markers.cql`, or never marked: `read_seq < ?` is false on null.
// `role != null` keeps a non-member's (missing) row from being created by the write.
const first =
  "UPDATE rooms_by_user SET read_seq = ? WHERE user_id = ? AND room_id = ? IF role != null AND read_seq = null"

/** Enough for one concurrent first move to land between our two conditions. */
const attempts = 3

/** `Rooms.readMarker`: one row of the user's room list; a row without a role is no membership. */
export const readMarker =
  (db: CassandraClient["Service"]) =>
  (roomId: RoomId, userId: UserId): Effect.Effect<Option.Option<number>, StorageError> =>
    db
      .execute("rooms.readMarker", "SELECT role, read_seq FROM rooms_by_user WHERE user_id = ? AND room_id = ?", [
        uuid(userId),
        uuid(roomId)
      ])
      .pipe(
        Effect.map((rs) =>
          Option.map(
            Option.filter(Option.fromNullishOr(rs.first()), (row) => row.get("role") !== null),
            (row) => readSeqOf(row) ?? 0
          )
        )
      )

/**
 * `Rooms.markRead` on the user's own room-list row, by lightweight transactions on one partition
 * (`cql/009_read_markers.cql` says why not a max-wins timestamp). A refused condition returns the
 * stored values, so the answer never needs another read.
 */
export const moveReadMarker =
  (db: CassandraClient["Service"]) =>
  (roomId: RoomId, userId: UserId, seq: number): Effect.Effect<Option.Option<ReadMarkerMove>, StorageError> => {
    const key = [uuid(userId), uuid(roomId)]
    const target = cassandra.types.Long.fromNumber(seq)
    const attempt = (left: number): Effect.Effect<Option.Option<ReadMarkerMove>, StorageError> =>
      Effect.gen(function* () {
        if (left === 0) {
          return yield* new StorageError({ operation: "rooms.markRead", cause: new Error("marker kept changing") })
        }
        const moved = (yield* db.execute("rooms.markRead", forward, [target, ...key, target])).first()
        if (moved.get("[applied]") === true) return Option.some({ seq, moved: true })
        const stored = readSeqOf(moved)
        if (stored !== null) return Option.some({ seq: stored, moved: false })
        const set = (yield* db.execute("rooms.markRead", first, [target, ...key])).first()
        if (set.get("[applied]") === true) return Option.some({ seq, moved: true })
        // Refused: not a member (no role), or someone set the marker in between (read it again).
        if (set.get("role") === null || set.get("role") === undefined) return Option.none()
        return yield* attempt(left - 1)
      })
    // Nothing is below 0: no write, the marker as it is (a null one reads as 0, and stays null).
    if (seq <= 0) {
      return Effect.map(
        readMarker(db)(roomId, userId),
        Option.map((stored) => ({ seq: stored, moved: false }))
      )
    }
    return attempt(attempts)
  }
