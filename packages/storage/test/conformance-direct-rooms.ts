import { assert, describe, type Vitest } from "@effect/vitest"
import type { RoomId } from "@parley/domain"
import { Effect, Option } from "effect"
import { type DirectPair, type DirectUser, type RoomRecord, Rooms } from "../src/index.ts"
import { newRoom, newUserId, unique } from "./fixtures.ts"

const newDirectUser = (): DirectUser => ({ id: newUserId(), username: unique("dm_") })

/**
 * A create as `asker` would send it: a fresh room id, the pair in the asker's order (first
 * the asker), so storage alone decides which order the pair is keyed by.
 */
const askedBy = (asker: DirectUser, other: DirectUser): RoomRecord & { readonly direct: DirectPair } => {
  const room = newRoom(asker.id)
  return { ...room, name: `${asker.username}, ${other.username}`, direct: [asker, other] }
}

/** The order the test expects storage to key a pair by: the lower user id first. */
const sortedPair = (a: DirectUser, b: DirectUser): DirectPair => (a.id < b.id ? [a, b] : [b, a])

export const directRoomsConformance = (it: Vitest.MethodsNonLive<Rooms>) =>
  describe("direct rooms", () => {
    it.effect(
      "one room per pair: asking again, from either side, gives the same room, with both users as members",
      () =>
        Effect.gen(function* () {
          const rooms = yield* Rooms
          const [alice, bob] = [newDirectUser(), newDirectUser()]
          assert.isTrue(Option.isNone(yield* rooms.findDirect(alice.id, bob.id)))

          const first = yield* rooms.createDirect(askedBy(alice, bob))
          assert.strictEqual(first.visibility, "private")
          assert.deepStrictEqual(first.direct, sortedPair(alice, bob))
          assert.strictEqual(first.createdBy, alice.id)
          for (const again of [askedBy(bob, alice), askedBy(alice, bob)]) {
            assert.deepStrictEqual(yield* rooms.createDirect(again), first)
          }
          assert.deepStrictEqual(yield* rooms.get(first.id), Option.some(first))
          assert.deepStrictEqual(yield* rooms.findDirect(alice.id, bob.id), Option.some(first))
          assert.deepStrictEqual(yield* rooms.findDirect(bob.id, alice.id), Option.some(first))

          const members = yield* rooms.listMembers(first.id, { after: null, limit: 10 })
          assert.deepStrictEqual(
            members.items.map((m) => [m.userId, m.role, m.joinedAt]),
            sortedPair(alice, bob).map((user) => [user.id, "member", first.createdAt])
          )
          // Each user's listing carries the pair, so a client can name the room by the other user.
          for (const user of [alice, bob]) {
            const listed = yield* rooms.listForUser(user.id, { after: null, limit: 10 })
            assert.deepStrictEqual(
              listed.items.map((entry) => [entry.room.id, entry.room.direct, entry.role]),
              [[first.id, first.direct, "member"]]
            )
          }
          // A third user has a pair of their own with each of them.
          const carol = newDirectUser()
          const other = yield* rooms.createDirect(askedBy(carol, alice))
          assert.notStrictEqual(other.id, first.id)
          assert.isTrue(Option.isNone(yield* rooms.findDirect(carol.id, bob.id)))
        })
    )

    it.effect("both users asking at the same moment, many times over, get one room", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const [alice, bob] = [newDirectUser(), newDirectUser()]
        const asks = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? askedBy(alice, bob) : askedBy(bob, alice)))
        const answers = yield* Effect.forEach(asks, (ask) => rooms.createDirect(ask), { concurrency: "unbounded" })
        const ids = new Set(answers.map((room) => room.id))
        assert.strictEqual(ids.size, 1, `rooms made for one pair: ${[...ids].join(", ")}`)
        const [roomId] = ids as Set<RoomId>
        assert.deepStrictEqual(yield* rooms.findDirect(bob.id, alice.id), Option.some(answers[0]!))
        assert.deepStrictEqual(
          (yield* rooms.listMembers(roomId!, { after: null, limit: 10 })).items.map((m) => m.userId),
          sortedPair(alice, bob).map((user) => user.id)
        )
        for (const user of [alice, bob]) {
          const listed = yield* rooms.listForUser(user.id, { after: null, limit: 50 })
          assert.deepStrictEqual(
            listed.items.map((entry) => entry.room.id),
            [roomId]
          )
        }
      })
    )

    it.effect("is never in the public directory, and operators see it with its pair", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const room = yield* rooms.createDirect(askedBy(newDirectUser(), newDirectUser()))
        let cursor: RoomId | null = null
        do {
          const page: { items: ReadonlyArray<RoomRecord>; next: RoomId | null } = yield* rooms.listPublic({
            after: cursor,
            limit: 100
          })
          assert.isFalse(
            page.items.some((r) => r.id === room.id),
            "a direct room is listed in the public directory"
          )
          cursor = page.next
        } while (cursor !== null)
        const everything: Array<RoomRecord> = []
        cursor = null
        do {
          const page: { items: ReadonlyArray<RoomRecord>; next: RoomId | null } = yield* rooms.listAll({
            after: cursor,
            limit: 100
          })
          everything.push(...page.items)
          cursor = page.next
        } while (cursor !== null)
        assert.deepStrictEqual(
          everything.find((r) => r.id === room.id),
          room
        )
      })
    )

    it.effect("deleting it frees the pair: the next ask makes a new room", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const [alice, bob] = [newDirectUser(), newDirectUser()]
        const first = yield* rooms.createDirect(askedBy(alice, bob))
        assert.isTrue(yield* rooms.delete(first.id))
        assert.isTrue(Option.isNone(yield* rooms.findDirect(alice.id, bob.id)))
        assert.isTrue(Option.isNone(yield* rooms.get(first.id)))
        const second = yield* rooms.createDirect(askedBy(bob, alice))
        assert.notStrictEqual(second.id, first.id)
        assert.deepStrictEqual(yield* rooms.findDirect(alice.id, bob.id), Option.some(second))
        assert.deepStrictEqual(
          (yield* rooms.listForUser(alice.id, { after: null, limit: 10 })).items.map((entry) => entry.room.id),
          [second.id]
        )
      })
    )
  })
