import type { MemberRole, RoomId, UserId, Visibility } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Effect, Layer, Option } from "effect"
import { StorageError } from "../errors.ts"
import { toPage } from "../page.ts"
import { type MembershipRecord, type RoomRecord, Rooms } from "../rooms.ts"
import { CassandraClient, type Params, uuid } from "./client.ts"
import { directColumns, directOf, directRooms, directValues } from "./direct-rooms.ts"
import { pageSkipping } from "./paging.ts"
import { moveReadMarker, readMarker, readSeqOf } from "./read-markers.ts"
import type { LeaseOptions } from "./room-head.ts"
import { archiveRoom, deleteRoom } from "./room-removal.ts"
import { bumpTotal } from "./totals.ts"

/** The single partition of `public_rooms` and `all_rooms` until they are sharded (see `cql/002_chat.cql`). */
const directory = 0

const time = (row: cassandra.types.Row, column: string) => (row.get(column) as Date).getTime()

const toRoom = (row: cassandra.types.Row, visibility: Visibility = row.get("visibility")): RoomRecord => ({
  id: row.get("room_id").toString() as RoomId,
  name: row.get("name"),
  visibility,
  createdBy: row.get("created_by").toString() as UserId,
  createdAt: time(row, "created_at"),
  // Null in rows written before `archived` existed.
  archived: row.get("archived") === true,
  ...directOf(row)
})

/**
 * A listing copy without a name is what an archive racing a delete can leave (its UPDATE
 * recreates a bare row the delete had removed): not a room, skipped.
 */
const toListedRoom = (row: cassandra.types.Row, visibility?: Visibility) =>
  row.get("name") === null ? undefined : toRoom(row, visibility)

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
    query: `INSERT INTO rooms_by_user (user_id, room_id, role, joined_at, name, visibility, created_by, created_at, archived, ${directColumns})
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    params: [
      uuid(m.userId),
      uuid(room.id),
      m.role,
      new Date(m.joinedAt),
      room.name,
      room.visibility,
      uuid(room.createdBy),
      new Date(room.createdAt),
      room.archived,
      ...directValues(room)
    ]
  }
]

/** A room's row, as `rooms` and the `all_rooms` directory both store it. */
const roomColumns = `room_id, name, visibility, created_by, created_at, archived, ${directColumns}`
const roomValues = (room: RoomRecord) => [
  uuid(room.id),
  room.name,
  room.visibility,
  uuid(room.createdBy),
  new Date(room.createdAt),
  room.archived,
  ...directValues(room)
]

/** A new room's rows, with `members` (both directions): one logged batch. */
const roomWrites = (room: RoomRecord, members: ReadonlyArray<MembershipRecord>) => [
  { query: `INSERT INTO rooms (${roomColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, params: roomValues(room) },
  ...members.flatMap((m) => memberWrites(room, m)),
  {
    query: `INSERT INTO all_rooms (directory, ${roomColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    params: [directory, ...roomValues(room)]
  },
  ...(room.visibility === "public"
    ? [
        {
          query: `INSERT INTO public_rooms (directory, room_id, name, created_by, created_at, archived)
            VALUES (?, ?, ?, ?, ?, ?)`,
          params: [directory, uuid(room.id), room.name, uuid(room.createdBy), new Date(room.createdAt), room.archived]
        }
      ]
    : [])
]

/** Without a cursor the key restriction is dropped: a `timeuuid` has no "minimum" to bind. */
const restrictAfter = (query: string, key: string, cursor: string | null, params: Params) =>
  cursor === null
    ? { query: `${query} LIMIT ?`, params }
    : { query: `${query} AND ${key} > ? LIMIT ?`, params: [...params, uuid(cursor)] }

export const CassandraRooms = (leases: LeaseOptions) =>
  Layer.effect(
    Rooms,
    Effect.gen(function* () {
      const db = yield* CassandraClient

      /** A room marked `deleting`, or a bare row without a name, is gone (see `room-removal.ts`). */
      const get = (id: RoomId) =>
        db
          .execute(
            "rooms.get",
            `SELECT room_id, name, visibility, created_by, created_at, archived, deleting, ${directColumns} FROM rooms WHERE room_id = ?`,
            [uuid(id)]
          )
          .pipe(
            Effect.map((rs) =>
              Option.flatMap(Option.fromNullishOr(rs.first()), (row) =>
                row.get("deleting") === true ? Option.none() : Option.fromUndefinedOr(toListedRoom(row))
              )
            )
          )

      const membership = (roomId: RoomId, userId: UserId) =>
        db
          .execute(
            "rooms.membership",
            "SELECT room_id, user_id, role, joined_at FROM room_members WHERE room_id = ? AND user_id = ?",
            [uuid(roomId), uuid(userId)]
          )
          .pipe(Effect.map((rs) => Option.map(Option.fromNullishOr(rs.first()), toMember)))

      /** A page of a listing table after the cursor; rows without a room are skipped. */
      const listing = <A>(
        operation: string,
        base: string,
        key: string,
        params: Params,
        options: { readonly after: RoomId | null; readonly limit: number },
        decode: (row: cassandra.types.Row) => A | undefined,
        keyOf: (row: cassandra.types.Row) => RoomId = (row) => row.get("room_id").toString() as RoomId
      ) =>
        pageSkipping({
          after: options.after,
          limit: options.limit,
          read: (cursor: RoomId | null, n) => {
            const q = restrictAfter(base, key, cursor, params)
            return db.execute(operation, q.query, [...q.params, n]).pipe(Effect.map((rs) => rs.rows))
          },
          keyOf,
          decode: (rows) => Effect.succeed(rows.map(decode))
        })

      const direct = directRooms(db, {
        get,
        writes: (room) =>
          roomWrites(
            room,
            room.direct.map((user) => ({ roomId: room.id, userId: user.id, role: "member", joinedAt: room.createdAt }))
          )
      })

      return Rooms.of({
        create: (room) =>
          db
            .batch(
              "rooms.create",
              roomWrites(room, [{ roomId: room.id, userId: room.createdBy, role: "owner", joinedAt: room.createdAt }])
            )
            .pipe(Effect.andThen(bumpTotal(db, "rooms", 1))),
        get,
        ...direct,
        membership,
        // Two partitions: both read at once.
        getWithMembership: (roomId, userId) =>
          Effect.map(Effect.all([get(roomId), membership(roomId, userId)], { concurrency: 2 }), ([room, member]) =>
            Option.map(room, (found) => ({ room: found, membership: member }))
          ),
        putMember: Effect.fn("Rooms.putMember")(function* (member) {
          const room = yield* get(member.roomId)
          if (Option.isNone(room)) {
            return yield* new StorageError({ operation: "rooms.putMember", cause: new Error("no such room") })
          }
          yield* db.batch("rooms.putMember", memberWrites(room.value, member))
        }),
        removeMember: (roomId, userId) =>
          db.batch("rooms.removeMember", [
            {
              query: "DELETE FROM room_members WHERE room_id = ? AND user_id = ?",
              params: [uuid(roomId), uuid(userId)]
            },
            {
              query: "DELETE FROM rooms_by_user WHERE user_id = ? AND room_id = ?",
              params: [uuid(userId), uuid(roomId)]
            }
          ]),
        listMembers: (roomId, options) => {
          const q = restrictAfter(
            "SELECT room_id, user_id, role, joined_at FROM room_members WHERE room_id = ?",
            "user_id",
            options.after,
            [uuid(roomId)]
          )
          return db
            .execute("rooms.listMembers", q.query, [...q.params, options.limit + 1])
            .pipe(Effect.map((rs) => toPage(rs.rows.map(toMember), options.limit, (m) => m.userId)))
        },
        listForUser: (userId, options) =>
          listing(
            "rooms.listForUser",
            `SELECT room_id, role, name, visibility, created_by, created_at, archived, read_seq, ${directColumns} FROM rooms_by_user WHERE user_id = ?`,
            "room_id",
            [uuid(userId)],
            options,
            (row) => {
              const room = toListedRoom(row)
              return room && { room, role: row.get("role") as MemberRole, readSeq: readSeqOf(row) ?? 0 }
            }
          ),
        listPublic: (options) =>
          listing(
            "rooms.listPublic",
            "SELECT room_id, name, created_by, created_at, archived FROM public_rooms WHERE directory = ?",
            "room_id",
            [directory],
            options,
            (row) => toListedRoom(row, "public")
          ),
        listAll: (options) =>
          listing(
            "rooms.listAll",
            `SELECT room_id, name, visibility, created_by, created_at, archived, ${directColumns} FROM all_rooms WHERE directory = ?`,
            "room_id",
            [directory],
            options,
            (row) => toListedRoom(row)
          ),
        markRead: moveReadMarker(db),
        readMarker: readMarker(db),
        archive: archiveRoom(db, get),
        delete: deleteRoom(db, leases)
      })
    })
  )
