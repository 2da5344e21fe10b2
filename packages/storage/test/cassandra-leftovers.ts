/**
 * Rows that a failed write, a crash or a race can leave in Cassandra, written here by hand,
 * and what the storage does with them: skip them on read, or finish the job on a repeat.
 */
import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, type RoomId, timeUuidFrom, timeUuidMs } from "@parley/domain"
import { Effect, Option } from "effect"
import { CassandraClient, uuid } from "../src/cassandra/client.ts"
import { writeShardOf } from "../src/cassandra/client-ids.ts"
import { Messages, plainMessage, Rooms, StorageStats, Users, usernameKey } from "../src/index.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { farFuture, newRoom, newUser, newUserId, testMessageBucketMs, unique } from "./fixtures.ts"

export const cassandraLeftovers = (
  it: Vitest.MethodsNonLive<CassandraClient | Users | Rooms | Messages | StorageStats>
) =>
  describe("cassandra: leftovers", () => {
    it.effect("a directory row without its user (a failed signup) is skipped, and pages stay full", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const users = yield* Users
        const p = unique("left")
        for (const suffix of ["a", "c", "e"]) yield* users.create(newUser(`${p}${suffix}`, `${p}${suffix}@example.com`))
        for (const suffix of ["b", "d"]) {
          yield* db.execute("test", "INSERT INTO user_directory (directory, username_key, user_id) VALUES (0, ?, ?)", [
            usernameKey(`${p}${suffix}`),
            uuid(newUserId())
          ])
        }
        const first = yield* users.list({ prefix: p, after: null, limit: 2 })
        assert.deepStrictEqual(
          first.items.map((u) => u.username),
          [`${p}a`, `${p}c`]
        )
        assert.strictEqual(first.next, usernameKey(`${p}c`))
        const rest = yield* users.list({ prefix: p, after: first.next, limit: 2 })
        assert.deepStrictEqual(
          rest.items.map((u) => u.username),
          [`${p}e`]
        )
        assert.strictEqual(rest.next, null)
      })
    )

    it.effect("bare room rows (an archive racing a delete) are no room and are skipped in listings", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const rooms = yield* Rooms
        const user = newUserId()
        const base = farFuture()
        const [older, bare, newer] = [0, 1, 2].map((i) => newRoom(user, "public", timeUuidFrom(base + i, 0) as RoomId))
        for (const room of [older!, newer!]) yield* rooms.create(room)
        for (const [query, params] of [
          ["UPDATE rooms SET archived = true WHERE room_id = ?", []],
          ["UPDATE all_rooms SET archived = true WHERE directory = 0 AND room_id = ?", []],
          ["UPDATE public_rooms SET archived = true WHERE directory = 0 AND room_id = ?", []],
          ["UPDATE rooms_by_user SET archived = true WHERE user_id = ? AND room_id = ?", [uuid(user)]]
        ] as const) {
          yield* db.execute("test", query, [...params, uuid(bare!.id)])
        }
        assert.isTrue(Option.isNone(yield* rooms.get(bare!.id)))
        assert.isFalse(yield* rooms.archive(bare!.id))
        assert.isFalse(yield* rooms.delete(bare!.id))
        const start = timeUuidFrom(base - 1, 0) as RoomId
        for (const list of [
          (after: RoomId | null) => rooms.listAll({ after: after ?? start, limit: 1 }),
          (after: RoomId | null) => rooms.listPublic({ after: after ?? start, limit: 1 }),
          (after: RoomId | null) =>
            rooms
              .listForUser(user, { after, limit: 1 })
              .pipe(Effect.map((p) => ({ items: p.items.map((r) => r.room), next: p.next })))
        ]) {
          const first = yield* list(null)
          assert.deepStrictEqual(first, { items: [older!], next: older!.id })
          assert.deepStrictEqual((yield* list(first.next)).items, [newer!])
        }
      })
    )

    it.effect("a delete that stopped halfway is finished by repeating it, and counted once", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const rooms = yield* Rooms
        const messages = yield* Messages
        const stats = yield* StorageStats
        const owner = newUserId()
        const member = newUserId()
        const room = newRoom(owner, "public")
        yield* rooms.create(room)
        yield* rooms.putMember({ roomId: room.id, userId: member, role: "member", joinedAt: room.createdAt })
        const t = timeUuidMs(room.id)
        yield* appendAsOwner(
          messages,
          room.id,
          [1, 2, 3].map((seq) => ({
            roomId: room.id,
            id: timeUuidFrom(t + seq * testMessageBucketMs, 0) as MessageId,
            seq,
            userId: owner,
            username: "owner",
            text: `m${seq}`,
            clientMsgId: `c${seq}`,
            createdAt: Date.now(),
            ...plainMessage
          }))
        )
        // What a delete does before it stops: mark (and count), drop the listings, a copy,
        // and the client-id entry of the first message.
        const rid = uuid(room.id)
        yield* db.execute("test", "UPDATE rooms SET deleting = true WHERE room_id = ?", [rid])
        yield* db.execute("test", "DELETE FROM all_rooms WHERE directory = 0 AND room_id = ?", [rid])
        yield* db.execute("test", "DELETE FROM rooms_by_user WHERE user_id = ? AND room_id = ?", [uuid(owner), rid])
        yield* db.execute(
          "test",
          "DELETE FROM room_client_ids WHERE room_id = ? AND shard = ? AND user_id = ? AND client_msg_id = ?",
          [rid, writeShardOf(owner, "c1"), uuid(owner), "c1"]
        )
        const before = yield* stats.counts(0)

        assert.isTrue(Option.isNone(yield* rooms.get(room.id)))
        assert.isTrue(yield* rooms.delete(room.id))
        for (const [table, key] of [
          ["rooms", "room_id"],
          ["room_members", "room_id"],
          ["room_buckets", "room_id"],
          ["room_heads", "room_id"]
        ] as const) {
          const rs = yield* db.execute("test", `SELECT * FROM ${table} WHERE ${key} = ?`, [rid])
          assert.strictEqual(rs.rows.length, 0, table)
        }
        const copies = yield* db.execute("test", "SELECT * FROM rooms_by_user WHERE user_id = ? AND room_id = ?", [
          uuid(member),
          rid
        ])
        assert.strictEqual(copies.rows.length, 0)
        assert.deepStrictEqual(yield* messages.listAfter(room.id, { after: null, limit: 10 }), [])
        for (const clientMsgId of ["c2", "c3"]) {
          assert.isTrue(Option.isNone(yield* messages.findByClientMsgId(room.id, owner, clientMsgId)), clientMsgId)
        }
        // The first (interrupted) delete won the mark, so the repeat does not count it again.
        assert.strictEqual((yield* stats.counts(0)).rooms, before.rooms)
        assert.isFalse(yield* rooms.delete(room.id))
      })
    )
  })
