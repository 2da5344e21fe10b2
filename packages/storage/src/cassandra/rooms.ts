import type { MemberRole, RoomId, UserId, Visibility } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Effect, Layer, Option } from "effect"
import { StorageError } from "../errors.ts"
import { toPage } from "../page.ts"
import { type MembershipRecord, type RoomRecord, Rooms } from "../rooms.ts"
import { CassandraClient, type Params, uuid } from "./client.ts"

/** The single partition of `public_rooms` until it is sharded (see `cql/002_chat.cql`). */
const directory = 0

const time = (row: cassandra.types.Row, column: string) => (row.get(column) as Date).getTime()

const toRoom = (row: cassandra.types.Row, visibility: Visibility = row.get("visibility")): RoomRecord => ({
  id: row.get("room_id").toString() as RoomId,
  name: row.get("name"),
  visibility,
  createdBy: row.get("created_by").toString() as UserId,
  createdAt: time(row, "created_at")
})

const toMember = (row: cassandra.types.Row): MembershipRecord => ({
  roomId: row.get("room_id").toString() as RoomId,
  userId: row.get("user_id").toString() as UserId,
  role: row.get("role") as MemberRole,
  joinedAt: time(row, "joined_at")
})

/** Both directions of one membership; `rooms_by_user` carries a copy of the room. */
const memberWrites = (room: RoomRecord, m: MembershipRecord) => [
  {
    query: "INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
    params: [uuid(room.id), uuid(m.userId), m.role, new Date(m.joinedAt)]
  },
  {
    query: `INSERT INTO rooms_by_user (user_id, room_id, role, joined_at, name, visibility, created_by, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    params: [
      uuid(m.userId),
      uuid(room.id),
      m.role,
      new Date(m.joinedAt),
      room.name,
      room.visibility,
      uuid(room.createdBy),
      new Date(room.createdAt)
    ]
  }
]

/** Without a cursor the key restriction is dropped: a `timeuuid` has no "minimum" to bind. */
const restrictAfter = (query: string, key: string, cursor: string | null, params: Params) =>
  cursor === null
    ? { query: `${query} LIMIT ?`, params }
    : { query: `${query} AND ${key} > ? LIMIT ?`, params: [...params, uuid(cursor)] }

export const CassandraRooms = Layer.effect(
  Rooms,
  Effect.gen(function* () {
    const db = yield* CassandraClient

    const get = (id: RoomId) =>
      db
        .execute("rooms.get", "SELECT room_id, name, visibility, created_by, created_at FROM rooms WHERE room_id = ?", [
          uuid(id)
        ])
        .pipe(Effect.map((rs) => Option.map(Option.fromNullishOr(rs.first()), (row) => toRoom(row))))

    /** Reads `limit + 1` rows after the cursor; the extra one only says whether more follow. */
    const page = (
      operation: string,
      base: string,
      key: string,
      cursor: string | null,
      params: Params,
      limit: number
    ) => {
      const q = restrictAfter(base, key, cursor, params)
      return db.execute(operation, q.query, [...q.params, limit + 1]).pipe(Effect.map((rs) => rs.rows))
    }

    return Rooms.of({
      create: (room) =>
        db.batch("rooms.create", [
          {
            query: "INSERT INTO rooms (room_id, name, visibility, created_by, created_at) VALUES (?, ?, ?, ?, ?)",
            params: [uuid(room.id), room.name, room.visibility, uuid(room.createdBy), new Date(room.createdAt)]
          },
          ...memberWrites(room, { roomId: room.id, userId: room.createdBy, role: "owner", joinedAt: room.createdAt }),
          ...(room.visibility === "public"
            ? [
                {
                  query:
                    "INSERT INTO public_rooms (directory, room_id, name, created_by, created_at) VALUES (?, ?, ?, ?, ?)",
                  params: [directory, uuid(room.id), room.name, uuid(room.createdBy), new Date(room.createdAt)]
                }
              ]
            : [])
        ]),
      get,
      membership: (roomId, userId) =>
        db
          .execute(
            "rooms.membership",
            "SELECT room_id, user_id, role, joined_at FROM room_members WHERE room_id = ? AND user_id = ?",
            [uuid(roomId), uuid(userId)]
          )
          .pipe(Effect.map((rs) => Option.map(Option.fromNullishOr(rs.first()), toMember))),
      putMember: Effect.fn("Rooms.putMember")(function* (member) {
        const room = yield* get(member.roomId)
        if (Option.isNone(room)) {
          return yield* new StorageError({ operation: "rooms.putMember", cause: new Error("no such room") })
        }
        yield* db.batch("rooms.putMember", memberWrites(room.value, member))
      }),
      removeMember: (roomId, userId) =>
        db.batch("rooms.removeMember", [
          { query: "DELETE FROM room_members WHERE room_id = ? AND user_id = ?", params: [uuid(roomId), uuid(userId)] },
          { query: "DELETE FROM rooms_by_user WHERE user_id = ? AND room_id = ?", params: [uuid(userId), uuid(roomId)] }
        ]),
      listMembers: (roomId, options) =>
        page(
          "rooms.listMembers",
          "SELECT room_id, user_id, role, joined_at FROM room_members WHERE room_id = ?",
          "user_id",
          options.after,
          [uuid(roomId)],
          options.limit
        ).pipe(Effect.map((rows) => toPage(rows.map(toMember), options.limit, (m) => m.userId))),
      listForUser: (userId, options) =>
        page(
          "rooms.listForUser",
          "SELECT room_id, role, name, visibility, created_by, created_at FROM rooms_by_user WHERE user_id = ?",
          "room_id",
          options.after,
          [uuid(userId)],
          options.limit
        ).pipe(
          Effect.map((rows) =>
            toPage(
              rows.map((row) => ({ room: toRoom(row), role: row.get("role") as MemberRole })),
              options.limit,
              (r) => r.room.id
            )
          )
        ),
      listPublic: (options) =>
        page(
          "rooms.listPublic",
          "SELECT room_id, name, created_by, created_at FROM public_rooms WHERE directory = ?",
          "room_id",
          options.after,
          [directory],
          options.limit
        ).pipe(
          Effect.map((rows) =>
            toPage(
              rows.map((row) => toRoom(row, "public")),
              options.limit,
              (r) => r.id
            )
          )
        )
    })
  })
)
