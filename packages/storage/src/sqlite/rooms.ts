import type { MemberRole, RoomId, UserId, Visibility } from "@parley/domain"
import { Effect, Layer, Option } from "effect"
import { toPage } from "../page.ts"
import { type MembershipRecord, type RoomRecord, Rooms } from "../rooms.ts"
import { SqliteDatabase } from "./database.ts"
import { timeUuidKey } from "./timeuuid-key.ts"

interface RoomRow {
  readonly room_id: string
  readonly name: string
  readonly visibility: string
  readonly created_by: string
  readonly created_at: number
  readonly archived: number
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
  archived: row.archived === 1
})

const toMember = (row: MemberRow): MembershipRecord => ({
  roomId: row.room_id as RoomId,
  userId: row.user_id as UserId,
  role: row.role as MemberRole,
  joinedAt: row.joined_at
})

const roomColumns = "r.room_id, r.name, r.visibility, r.created_by, r.created_at, r.archived"

/**
 * Every statement on a request path; each is answered from a primary key or index (the
 * query-plan test checks), never a scan. The empty string sorts before every key and id,
 * so a first page is just "after ''".
 */
export const queries = {
  insertRoom:
    "INSERT INTO rooms (room_id, room_key, name, visibility, created_by, created_at, archived) VALUES (?, ?, ?, ?, ?, ?, ?)",
  getRoom: `SELECT ${roomColumns} FROM rooms r WHERE r.room_id = ?`,
  putMember: `INSERT INTO room_members (room_id, user_id, room_key, role, joined_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (room_id, user_id) DO UPDATE SET role = excluded.role, joined_at = excluded.joined_at`,
  membership: "SELECT room_id, user_id, role, joined_at FROM room_members WHERE room_id = ? AND user_id = ?",
  removeMember: "DELETE FROM room_members WHERE room_id = ? AND user_id = ?",
  listMembers:
    "SELECT room_id, user_id, role, joined_at FROM room_members WHERE room_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
  listForUser: `SELECT ${roomColumns}, m.role FROM room_members m JOIN rooms r ON r.room_id = m.room_id
    WHERE m.user_id = ? AND m.room_key > ? ORDER BY m.room_key LIMIT ?`,
  listPublic: `SELECT ${roomColumns} FROM rooms r
    WHERE r.visibility = 'public' AND r.room_key > ? ORDER BY r.room_key LIMIT ?`,
  listAll: `SELECT ${roomColumns} FROM rooms r WHERE r.room_key > ? ORDER BY r.room_key LIMIT ?`,
  archive: "UPDATE rooms SET archived = 1 WHERE room_id = ?",
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
      membership: (roomId, userId) =>
        db
          .get<MemberRow>("rooms.membership", queries.membership, roomId, userId)
          .pipe(Effect.map((row) => Option.map(Option.fromUndefinedOr(row), toMember))),
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
          .all<RoomRow & { readonly role: string }>(
            "rooms.listForUser",
            queries.listForUser,
            userId,
            after === null ? "" : timeUuidKey(after),
            limit + 1
          )
          .pipe(
            Effect.map((rows) =>
              toPage(
                rows.map((row) => ({ room: toRoom(row), role: row.role as MemberRole })),
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
