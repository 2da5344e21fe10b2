import { assert, describe, type Vitest } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Rooms } from "../src/index.ts"
import { newRoom, newUserId } from "./fixtures.ts"

/** `Rooms.markRead` / `readMarker` and the marker in `listForUser` (issue 12 §2). */
export const readMarkersConformance = (it: Vitest.MethodsNonLive<Rooms>) =>
  describe("read markers", () => {
    /** A room with one member besides its owner. */
    const roomWithMember = Effect.gen(function* () {
      const rooms = yield* Rooms
      const room = newRoom(newUserId(), "public")
      yield* rooms.create(room)
      const user = newUserId()
      yield* rooms.putMember({ roomId: room.id, userId: user, role: "member", joinedAt: room.createdAt + 1 })
      return { rooms, room, user }
    })
    const listedMarker = (rooms: Rooms["Service"], user: ReturnType<typeof newUserId>) =>
      Effect.map(rooms.listForUser(user, { after: null, limit: 5 }), (page) => page.items.map((i) => i.readSeq))

    it.effect("starts at 0 and only moves forward: a lower or equal seq leaves it, and says where it is", () =>
      Effect.gen(function* () {
        const { rooms, room, user } = yield* roomWithMember
        assert.deepStrictEqual(yield* rooms.readMarker(room.id, user), Option.some(0))
        assert.deepStrictEqual(yield* listedMarker(rooms, user), [0])
        const moved = (seq: number) => Option.some({ seq, moved: true })
        const stayed = (seq: number) => Option.some({ seq, moved: false })
        // 0 is where a marker starts: nothing moves (an empty room's head is 0).
        assert.deepStrictEqual(yield* rooms.markRead(room.id, user, 0), stayed(0))
        assert.deepStrictEqual(yield* rooms.markRead(room.id, user, 5), moved(5))
        assert.deepStrictEqual(yield* rooms.markRead(room.id, user, 3), stayed(5))
        assert.deepStrictEqual(yield* rooms.markRead(room.id, user, 5), stayed(5))
        assert.deepStrictEqual(yield* rooms.readMarker(room.id, user), Option.some(5))
        assert.deepStrictEqual(yield* rooms.markRead(room.id, user, 9), moved(9))
        assert.deepStrictEqual(yield* rooms.readMarker(room.id, user), Option.some(9))
        assert.deepStrictEqual(yield* listedMarker(rooms, user), [9])
        // Each member has their own.
        assert.deepStrictEqual(yield* rooms.readMarker(room.id, room.createdBy), Option.some(0))
      })
    )

    it.effect("concurrent moves end at the highest, whatever order they land in", () =>
      Effect.gen(function* () {
        const { rooms, room, user } = yield* roomWithMember
        // Six at once: enough to interleave, few enough that Paxos contention on one partition stays in its timeout.
        const seqs = [7, 3, 12, 1, 9, 12]
        const answers = yield* Effect.forEach(seqs, (seq) => rooms.markRead(room.id, user, seq), {
          concurrency: "unbounded"
        })
        // Every answer is at least what was asked: the marker never went back below a move; a
        // call that moved it says so, and its answer is what it asked.
        answers.forEach((answer, i) => {
          const { seq, moved } = Option.getOrThrow(answer)
          assert.isAtLeast(seq, seqs[i]!)
          if (moved) assert.strictEqual(seq, seqs[i])
        })
        // The move to 12 that landed first said it moved; the highest other asks stayed.
        assert.isTrue(answers.some((answer, i) => seqs[i] === 12 && Option.getOrThrow(answer).moved))
        assert.deepStrictEqual(yield* rooms.readMarker(room.id, user), Option.some(12))
      })
    )

    it.effect("a non-member has none, and marking writes nothing for them", () =>
      Effect.gen(function* () {
        const { rooms, room } = yield* roomWithMember
        const outsider = newUserId()
        assert.isTrue(Option.isNone(yield* rooms.markRead(room.id, outsider, 4)))
        assert.isTrue(Option.isNone(yield* rooms.readMarker(room.id, outsider)))
        assert.isTrue(Option.isNone(yield* rooms.membership(room.id, outsider)))
        assert.deepStrictEqual(yield* rooms.listForUser(outsider, { after: null, limit: 5 }), { items: [], next: null })
      })
    )

    it.effect("a role change keeps the marker; leaving drops it, and a re-join starts from 0", () =>
      Effect.gen(function* () {
        const { rooms, room, user } = yield* roomWithMember
        yield* rooms.markRead(room.id, user, 6)
        yield* rooms.putMember({ roomId: room.id, userId: user, role: "admin", joinedAt: room.createdAt + 1 })
        assert.deepStrictEqual(yield* rooms.readMarker(room.id, user), Option.some(6))
        yield* rooms.removeMember(room.id, user)
        assert.isTrue(Option.isNone(yield* rooms.readMarker(room.id, user)))
        assert.isTrue(Option.isNone(yield* rooms.markRead(room.id, user, 8)))
        yield* rooms.putMember({ roomId: room.id, userId: user, role: "member", joinedAt: room.createdAt + 2 })
        assert.deepStrictEqual(yield* rooms.readMarker(room.id, user), Option.some(0))
        assert.deepStrictEqual(yield* listedMarker(rooms, user), [0])
      })
    )
  })
