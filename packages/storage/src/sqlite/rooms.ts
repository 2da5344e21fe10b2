import type { MemberRole, RoomId, UserId, Visibility } from "@parley/domain"
import { Effect, Layer, Option } from "effect"
import { toPage } from "../page.ts"
import { directPair, type MembershipRecord, type RoomRecord, Rooms, type RoomWithMembership } from "../rooms.ts"
import { SqliteDatabase } from "./database.ts"
import { timeUuidKey } from "./timeuuid-key.ts"

interface RoomRow {
  readonly room_id: string
  readonly name: string
  readonly visibility: string
  readonly created_by: string
  readonly created_at: number
  readonly archived: number
  /** A direct room's users (migration 9), null on other rooms. */
  readonly direct_low: string | null
  readonly direct_low_name: string | null
  readonly direct_high: string | null
  readonly direct_high_name: string | null
}

interface MemberRow {
  readonly room_id: string
  readonly user_id: string
  readonly role: string
  readonly joined_at: number
}

const toRoom = (row: RoomRow): RoomRecord => ({
  id: row.room_id as RoomId,
  name: row.name,
  visibility: row.visibility as Visibility,
  createdBy: row.created_by as UserId,
  createdAt: row.created_at,
  archived: row.archived === 1,
  ...(row.direct_low === null
    ? {}
    : {
        direct: [
          { id: row.direct_low as UserId, username: row.direct_low_name ?? "" },
          { id: row.direct_high as UserId, username: row.direct_high_name ?? "" }
        ]
      })
})

const toMember = (row: MemberRow): MembershipRecord => ({
  roomId: row.room_id as RoomId,
  userId: row.user_id as UserId,
  role: row.role as MemberRole,
  joinedAt: row.joined_at
})

/** A room row with the asked user's membership columns, null when not a member. */
interface RoomMemberRow extends RoomRow {
  readonly member_id: string | null
  readonly member_role: string | null
  readonly member_joined_at: number | null
}

const toRoomWithMembership = (row: RoomMemberRow): RoomWithMembership => ({
  room: toRoom(row),
  membership:
    row.member_id === null
      ? Option.none()
      : Option.some(
          toMember({
            room_id: row.room_id,
            user_id: row.member_id,
            role: row.member_role!,
            joined_at: row.member_joined_at!
          })
        )
})

const roomColumns =
  "r.room_id, r.name, r.visibility, r.created_by, r.created_at, r.archived, r.direct_low, r.direct_low_name, r.direct_high, r.direct_high_name"

/**
 * Every statement on a request path; each is answered from a primary key or index (the
 * query-plan test checks), never a scan. The empty string sorts before every key and id,
 * so a first page is just "after ''".
 */
export const queries = {
  insertRoom:
    "INSERT INTO rooms (room_id, room_key, name, visibility, created_by, created_at, archived) VALUES (?, ?, ?, ?, ?, ?, ?)",
  getRoom: `SELECT ${roomColumns} FROM rooms r WHERE r.room_id = ?`,
  findDirect: `SELECT ${roomColumns} FROM rooms r WHERE r.direct_low = ? AND r.direct_high = ?`,
  insertDirectRoom: `INSERT INTO rooms (room_id, room_key, name, visibility, created_by, created_at, archived,
    direct_low, direct_low_name, direct_high, direct_high_name) VALUES (?, ?, ?, 'private', ?, ?, 0, ?, ?, ?, ?)`,
  putMember: `INSERT INTO room_members (room_id, user_id, room_key, role, joined_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (room_id, user_id) DO UPDATE SET role = excluded.role, joined_at = excluded.joined_at`,
  membership: "SELECT room_id, user_id, role, joined_at FROM room_members WHERE room_id = ? AND user_id = ?",
  getWithMembership: `SELECT ${roomColumns}, m.user_id AS member_id, m.role AS member_role, m.joined_at AS member_joined_at
    FROM rooms r LEFT JOIN room_members m ON m.room_id = r.room_id AND m.user_id = ? WHERE r.room_id = ?`,
  removeMember: "DELETE FROM room_members WHERE room_id = ? AND user_id = ?",
  listMembers:
    "SELECT room_id, user_id, role, joined_at FROM room_members WHERE room_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
  listForUser: `SELECT ${roomColumns}, m.role, m.read_seq FROM room_members m JOIN rooms r ON r.room_id = m.room_id
    WHERE m.user_id = ? AND m.room_key > ? ORDER BY m.room_key LIMIT ?`,
  listPublic: `SELECT ${roomColumns} FROM rooms r
    WHERE r.visibility = 'public' AND r.room_key > ? ORDER BY r.room_key LIMIT ?`,
  listAll: `SELECT ${roomColumns} FROM rooms r WHERE r.room_key > ? ORDER BY r.room_key LIMIT ?`,
  archive: "UPDATE rooms SET archived = 1 WHERE room_id = ?",
  markRead:
    "UPDATE room_members SET read_seq = ? WHERE room_id = ? AND user_id = ? AND read_seq < ? RETURNING read_seq",
  readMarker: "SELECT read_seq FROM room_members WHERE room_id = ? AND user_id = ?",
  deleteMessages: "DELETE FROM room_messages WHERE room_id = ?",
  deleteMembers: "DELETE FROM room_members WHERE room_id = ?",
  deleteHead: "DELETE FROM room_heads WHERE room_id = ?",
  deleteRoom: "DELETE FROM rooms WHERE room_id = ?"
} as const

export const SqliteRooms = Layer.effect(
  Rooms,
  Effect.gen(function* () {
    const db = yield* SqliteDatabase
    const memberParams = (m: MembershipRecord) => [m.roomId, m.userId, timeUuidKey(m.roomId), m.role, m.joinedAt]

    return Rooms.of({
      create: (room) =>
        db.transaction("rooms.create", (tx) => {
          tx.prepare(queries.insertRoom).run(
            room.id,
            timeUuidKey(room.id),
            room.name,
            room.visibility,
            room.createdBy,
            room.createdAt,
            room.archived ? 1 : 0
          )
          tx.prepare(queries.putMember).run(
            ...memberParams({ roomId: room.id, userId: room.createdBy, role: "owner", joinedAt: room.createdAt })
          )
        }),
      get: (id) =>
        db
          .get<RoomRow>("rooms.get", queries.getRoom, id)
          .pipe(Effect.map((row) => Option.map(Option.fromUndefinedOr(row), toRoom))),
      findDirect: (a, b) => {
        const [low, high] = directPair({ id: a, username: "" }, { id: b, username: "" })
        return db
          .get<RoomRow>("rooms.findDirect", queries.findDirect, low.id, high.id)
          .pipe(Effect.map((row) => Option.map(Option.fromUndefinedOr(row), toRoom)))
      },
      // The pair's unique index makes a second room for it impossible; BEGIN IMMEDIATE makes
      // the look-up and the insert one step, so a racing create finds the winner's room.
      createDirect: (room) =>
        db.transaction("rooms.createDirect", (tx) => {
          const [low, high] = directPair(...room.direct)
          const existing = tx.prepare(queries.findDirect).get(low.id, high.id) as RoomRow | undefined
          if (existing !== undefined) return toRoom(existing)
          tx.prepare(queries.insertDirectRoom).run(
            room.id,
            timeUuidKey(room.id),
            room.name,
            room.createdBy,
            room.createdAt,
            low.id,
            low.username,
            high.id,
            high.username
          )
          for (const user of [low, high]) {
            tx.prepare(queries.putMember).run(
              ...memberParams({ roomId: room.id, userId: user.id, role: "member", joinedAt: room.createdAt })
            )
          }
          return { ...room, visibility: "private", archived: false, direct: [low, high] } satisfies RoomRecord
        }),
      membership: (roomId, userId) =>
        db
          .get<MemberRow>("rooms.membership", queries.membership, roomId, userId)
          .pipe(Effect.map((row) => Option.map(Option.fromUndefinedOr(row), toMember))),
      getWithMembership: (roomId, userId) =>
        db
          .get<RoomMemberRow>("rooms.getWithMembership", queries.getWithMembership, userId, roomId)
          .pipe(Effect.map((row) => Option.map(Option.fromUndefinedOr(row), toRoomWithMembership))),
      // A missing room fails the foreign key, which is the StorageError the interface promises.
      putMember: (member) => db.run("rooms.putMember", queries.putMember, ...memberParams(member)).pipe(Effect.asVoid),
      removeMember: (roomId, userId) =>
        db.run("rooms.removeMember", queries.removeMember, roomId, userId).pipe(Effect.asVoid),
      listMembers: (roomId, { after, limit }) =>
        db
          .all<MemberRow>("rooms.listMembers", queries.listMembers, roomId, after ?? "", limit + 1)
          .pipe(Effect.map((rows) => toPage(rows.map(toMember), limit, (m) => m.userId))),
      listForUser: (userId, { after, limit }) =>
        db
          .all<RoomRow & { readonly role: string; readonly read_seq: number }>(
            "rooms.listForUser",
            queries.listForUser,
            userId,
            after === null ? "" : timeUuidKey(after),
            limit + 1
          )
          .pipe(
            Effect.map((rows) =>
              toPage(
                rows.map((row) => ({ room: toRoom(row), role: row.role as MemberRole, readSeq: row.read_seq })),
                limit,
                (r) => r.room.id
              )
            )
          ),
      listPublic: ({ after, limit }) =>
        db
          .all<RoomRow>("rooms.listPublic", queries.listPublic, after === null ? "" : timeUuidKey(after), limit + 1)
          .pipe(Effect.map((rows) => toPage(rows.map(toRoom), limit, (r) => r.id))),
      listAll: ({ after, limit }) =>
        db
          .all<RoomRow>("rooms.listAll", queries.listAll, after === null ? "" : timeUuidKey(after), limit + 1)
          .pipe(Effect.map((rows) => toPage(rows.map(toRoom), limit, (r) => r.id))),
      // The condition is checked against the stored marker by the write itself (BEGIN IMMEDIATE): racing calls cannot move it back.
      markRead: (roomId, userId, seq) =>
        db
          .transaction("rooms.markRead", (tx) => {
            const moved = tx.prepare(queries.markRead).get(seq, roomId, userId, seq) as { read_seq: number } | undefined
            if (moved !== undefined) return { seq: moved.read_seq, moved: true }
            // Not moved (already there or further), or not a member: the stored marker, in the same transaction.
            const stored = tx.prepare(queries.readMarker).get(roomId, userId) as { read_seq: number } | undefined
            return stored === undefined ? undefined : { seq: stored.read_seq, moved: false }
          })
          .pipe(Effect.map(Option.fromUndefinedOr)),
      readMarker: (roomId, userId) =>
        db
          .get<{ readonly read_seq: number }>("rooms.readMarker", queries.readMarker, roomId, userId)
          .pipe(Effect.map((row) => Option.map(Option.fromUndefinedOr(row), (r) => r.read_seq))),
      // `changes` counts the rows matched, so archiving twice still answers true.
      archive: (id) => db.run("rooms.archive", queries.archive, id).pipe(Effect.map((changes) => changes > 0)),
      // One transaction: history, memberships and the room go together or not at all. The
      // head goes too: an append finds no head and is refused, so a live owner's fence dies
      // with the room (messages.ts never recreates a head; only a claim does).
      delete: (id) =>
        db.transaction("rooms.delete", (tx) => {
          tx.prepare(queries.deleteHead).run(id)
          tx.prepare(queries.deleteMessages).run(id)
          tx.prepare(queries.deleteMembers).run(id)
          return Number(tx.prepare(queries.deleteRoom).run(id).changes) > 0
        })
    })
  })
)
