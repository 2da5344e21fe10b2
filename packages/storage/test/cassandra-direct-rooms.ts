/**
 * What a direct room's create can leave in Cassandra (`cql/010_direct_rooms.cql`), written
 * here by hand: a pair row whose room rows never came, and a pair row read by a create that
 * then lost the race with the room's delete.
 */
import { assert, describe, type Vitest } from "@effect/vitest"
import { Effect, Option } from "effect"
import { CassandraClient, uuid } from "../src/cassandra/client.ts"
import { type DirectPair, type DirectUser, directPair, type RoomRecord, Rooms } from "../src/index.ts"
import { newRoom, newUserId, unique } from "./fixtures.ts"

const newDirectUser = (): DirectUser => ({ id: newUserId(), username: unique("dm_") })

const directRoom = (a: DirectUser, b: DirectUser): RoomRecord & { readonly direct: DirectPair } => {
  const direct = directPair(a, b)
  return { ...newRoom(a.id), name: `${direct[0].username}, ${direct[1].username}`, direct }
}

/** The pair row alone, as an LWT that won leaves it before its batch lands. */
const writePairRow = (room: RoomRecord & { readonly direct: DirectPair }) =>
  Effect.flatMap(CassandraClient, (db) =>
    db.execute(
      "test",
      `INSERT INTO direct_rooms (user_low, user_high, room_id, name, created_by, created_at, low_username, high_username)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        uuid(room.direct[0].id),
        uuid(room.direct[1].id),
        uuid(room.id),
        room.name,
        uuid(room.createdBy),
        new Date(room.createdAt),
        room.direct[0].username,
        room.direct[1].username
      ]
    )
  )

const listedIds = (userId: DirectUser["id"]) =>
  Effect.flatMap(Rooms, (rooms) => rooms.listForUser(userId, { after: null, limit: 10 })).pipe(
    Effect.map((page) => page.items.map((entry) => entry.room.id))
  )

export const cassandraDirectRooms = (it: Vitest.MethodsNonLive<CassandraClient | Rooms>) =>
  describe("cassandra: direct room leftovers", () => {
    it.effect("a pair row without its room (the creator stopped after the LWT): the next ask writes the room", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const [alice, bob] = [newDirectUser(), newDirectUser()]
        const abandoned = directRoom(alice, bob)
        yield* writePairRow(abandoned)
        assert.isTrue(Option.isNone(yield* rooms.get(abandoned.id)))

        const answer = yield* rooms.createDirect(directRoom(bob, alice))
        assert.strictEqual(answer.id, abandoned.id)
        assert.deepStrictEqual(yield* rooms.get(abandoned.id), Option.some(answer))
        assert.deepStrictEqual(yield* listedIds(alice.id), [abandoned.id])
        assert.deepStrictEqual(yield* listedIds(bob.id), [abandoned.id])
        assert.strictEqual((yield* rooms.listMembers(abandoned.id, { after: null, limit: 10 })).items.length, 2)
      })
    )

    it.effect("a create that read the pair before the room was deleted writes nothing that shows", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const [alice, bob] = [newDirectUser(), newDirectUser()]
        const room = yield* rooms.createDirect(directRoom(alice, bob))
        assert.isTrue(yield* rooms.delete(room.id))
        // The slow create still holds the pair row as it read it, and finds the room missing.
        yield* writePairRow({ ...room, direct: room.direct! })
        yield* rooms.createDirect(directRoom(bob, alice))
        // Its rows carry the room's creation time: the delete's tombstones are newer.
        assert.isTrue(Option.isNone(yield* rooms.get(room.id)))
        assert.deepStrictEqual(yield* listedIds(alice.id), [])
        assert.deepStrictEqual((yield* rooms.listMembers(room.id, { after: null, limit: 10 })).items, [])
      })
    )
  })
