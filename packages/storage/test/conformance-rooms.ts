import { assert, describe, type Vitest } from "@effect/vitest"
import { type RoomId, timeUuidFrom, type UserId } from "@parley/domain"
import { Effect, Option } from "effect"
import { type MembershipRecord, type Page, type RoomRecord, Rooms } from "../src/index.ts"
import { newRoom, newUserId } from "./fixtures.ts"

/** Follows `next` from the first page to the last, checking every page's size on the way. */
const allPages = <A, K>(limit: number, read: (after: K | null) => Effect.Effect<Page<A, K>, unknown>) =>
  Effect.gen(function* () {
    const pages: Array<Page<A, K>> = []
    let after: K | null = null
    do {
      const page: Page<A, K> = yield* read(after)
      assert.isAtMost(page.items.length, limit)
      pages.push(page)
      after = page.next
    } while (after !== null && pages.length < 100)
    return pages
  })

export const roomsConformance = (it: Vitest.MethodsNonLive<Rooms>) =>
  describe("rooms", () => {
    it.effect("creates a room, finds it, and makes the creator its owner", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const owner = newUserId()
        for (const room of [newRoom(owner, "public"), newRoom(owner, "private")]) {
          yield* rooms.create(room)
          assert.deepStrictEqual(yield* rooms.get(room.id), Option.some(room))
          const ownership: MembershipRecord = {
            roomId: room.id,
            userId: owner,
            role: "owner",
            joinedAt: room.createdAt
          }
          assert.deepStrictEqual(yield* rooms.membership(room.id, owner), Option.some(ownership))
          assert.deepStrictEqual(yield* rooms.listMembers(room.id, { after: null, limit: 10 }), {
            items: [ownership],
            next: null
          })
        }
        const listed = yield* rooms.listForUser(owner, { after: null, limit: 10 })
        assert.deepStrictEqual(
          listed.items.map((r) => [r.room.visibility, r.role]),
          [
            ["public", "owner"],
            ["private", "owner"]
          ]
        )
        assert.isTrue(Option.isNone(yield* rooms.get(newRoom(owner).id)))
        assert.isTrue(Option.isNone(yield* rooms.membership(listed.items[0]!.room.id, newUserId())))
      })
    )

    it.effect("puts a member, updates the role in both directions, and removes both (twice is a no-op)", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const room = newRoom(newUserId())
        yield* rooms.create(room)
        const user = newUserId()
        const member: MembershipRecord = { roomId: room.id, userId: user, role: "member", joinedAt: room.createdAt + 5 }
        yield* rooms.putMember(member)
        assert.deepStrictEqual(yield* rooms.membership(room.id, user), Option.some(member))
        assert.deepStrictEqual((yield* rooms.listForUser(user, { after: null, limit: 5 })).items, [
          { room, role: "member", readSeq: 0 }
        ])

        const promoted: MembershipRecord = { ...member, role: "admin" }
        yield* rooms.putMember(promoted)
        assert.deepStrictEqual(yield* rooms.membership(room.id, user), Option.some(promoted))
        assert.deepStrictEqual((yield* rooms.listForUser(user, { after: null, limit: 5 })).items, [
          { room, role: "admin", readSeq: 0 }
        ])
        const members = yield* rooms.listMembers(room.id, { after: null, limit: 5 })
        assert.deepStrictEqual(members.items.find((m) => m.userId === user)?.role, "admin")
        assert.strictEqual(members.items.length, 2)

        yield* rooms.removeMember(room.id, user)
        assert.isTrue(Option.isNone(yield* rooms.membership(room.id, user)))
        assert.deepStrictEqual(yield* rooms.listForUser(user, { after: null, limit: 5 }), { items: [], next: null })
        assert.deepStrictEqual(
          (yield* rooms.listMembers(room.id, { after: null, limit: 5 })).items.map((m) => m.userId),
          [room.createdBy]
        )
        yield* rooms.removeMember(room.id, user)
        yield* rooms.removeMember(room.id, newUserId())
        assert.isTrue(Option.isSome(yield* rooms.membership(room.id, room.createdBy)))
      })
    )

    it.effect("reads a room with one user's membership: owner, member, promoted, removed, stranger, no room", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const owner = newUserId()
        const room = newRoom(owner, "private")
        yield* rooms.create(room)
        const other = newRoom(owner, "public")
        yield* rooms.create(other)
        const user = newUserId()
        const read = (id: RoomId, who: UserId) =>
          Effect.map(
            rooms.getWithMembership(id, who),
            Option.map(({ room, membership }) => ({ room, membership }))
          )
        const ownership: MembershipRecord = { roomId: room.id, userId: owner, role: "owner", joinedAt: room.createdAt }
        assert.deepStrictEqual(yield* read(room.id, owner), Option.some({ room, membership: Option.some(ownership) }))
        assert.deepStrictEqual(yield* read(room.id, user), Option.some({ room, membership: Option.none() }))

        const member: MembershipRecord = { roomId: room.id, userId: user, role: "member", joinedAt: room.createdAt + 5 }
        yield* rooms.putMember(member)
        assert.deepStrictEqual(yield* read(room.id, user), Option.some({ room, membership: Option.some(member) }))
        // A membership of another room is not this one's.
        assert.deepStrictEqual(yield* read(other.id, user), Option.some({ room: other, membership: Option.none() }))
        yield* rooms.putMember({ ...member, role: "admin" })
        assert.deepStrictEqual(
          yield* read(room.id, user),
          Option.some({ room, membership: Option.some({ ...member, role: "admin" as const }) })
        )
        yield* rooms.removeMember(room.id, user)
        assert.deepStrictEqual(yield* read(room.id, user), Option.some({ room, membership: Option.none() }))

        assert.isTrue(Option.isNone(yield* read(newRoom(owner).id, owner)))
      })
    )

    it.effect("refuses a member for a room that does not exist", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const room = newRoom(newUserId())
        const error = yield* Effect.flip(
          rooms.putMember({ roomId: room.id, userId: newUserId(), role: "member", joinedAt: Date.now() })
        )
        assert.strictEqual(error._tag, "StorageError")
        assert.isTrue(Option.isNone(yield* rooms.membership(room.id, room.createdBy)))
      })
    )

    it.effect("pages members in ascending user id order", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const room = newRoom(newUserId())
        yield* rooms.create(room)
        for (let i = 0; i < 6; i++) {
          yield* rooms.putMember({ roomId: room.id, userId: newUserId(), role: "member", joinedAt: room.createdAt + i })
        }
        const expected = [...(yield* rooms.listMembers(room.id, { after: null, limit: 100 })).items]
          .map((m) => m.userId)
          .sort()
        assert.strictEqual(expected.length, 7)

        const pages = yield* allPages(3, (after: UserId | null) => rooms.listMembers(room.id, { after, limit: 3 }))
        assert.deepStrictEqual(
          pages.map((p) => p.items.length),
          [3, 3, 1]
        )
        assert.deepStrictEqual(
          pages.flatMap((p) => p.items.map((m) => m.userId)),
          expected
        )
        assert.strictEqual(pages[0]!.next, expected[2])
        // Exactly `limit` left: the page knows nothing follows.
        const rest = yield* rooms.listMembers(room.id, { after: expected[3]!, limit: 3 })
        assert.deepStrictEqual(
          rest.items.map((m) => m.userId),
          expected.slice(4)
        )
        assert.strictEqual(rest.next, null)
        assert.deepStrictEqual(yield* rooms.listMembers(room.id, { after: expected[6]!, limit: 3 }), {
          items: [],
          next: null
        })
      })
    )

    it.effect("pages a user's rooms oldest first, with the user's role in each", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const user = newUserId()
        const created: Array<RoomRecord> = []
        for (let i = 0; i < 5; i++) {
          const own = i % 2 === 0
          const room = newRoom(own ? user : newUserId(), i === 3 ? "public" : "private")
          yield* rooms.create(room)
          if (!own) yield* rooms.putMember({ roomId: room.id, userId: user, role: "member", joinedAt: Date.now() })
          created.push(room)
        }
        const pages = yield* allPages(2, (after: RoomId | null) => rooms.listForUser(user, { after, limit: 2 }))
        assert.deepStrictEqual(
          pages.map((p) => p.items.length),
          [2, 2, 1]
        )
        assert.deepStrictEqual(
          pages.flatMap((p) => p.items),
          created.map((room, i) => ({ room, role: i % 2 === 0 ? "owner" : "member", readSeq: 0 }))
        )
        assert.deepStrictEqual(
          pages.map((p) => p.next),
          [created[1]!.id, created[3]!.id, null]
        )
      })
    )

    it.effect("pages the public directory oldest first, leaving private rooms out", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        // Far in the future, so no other test's room lies between these.
        const base = Date.now() + 10 * 365 * 86_400_000 + Math.floor(Math.random() * 1e9)
        const owner = newUserId()
        const created: Array<RoomRecord> = []
        for (let i = 0; i < 7; i++) {
          const room = newRoom(owner, i % 3 === 1 ? "private" : "public", timeUuidFrom(base + i * 1000, 0) as RoomId)
          yield* rooms.create(room)
          created.push(room)
        }
        const publicRooms = created.filter((r) => r.visibility === "public")
        const start = timeUuidFrom(base - 1, 0) as RoomId
        const pages = yield* allPages(2, (after: RoomId | null) =>
          rooms.listPublic({ after: after ?? start, limit: 2 })
        )
        assert.deepStrictEqual(
          pages.flatMap((p) => p.items),
          publicRooms
        )
        assert.deepStrictEqual(
          pages.map((p) => p.items.length),
          [2, 2, 1]
        )
        assert.strictEqual(pages.at(-1)!.next, null)

        const first = yield* rooms.listPublic({ after: null, limit: 3 })
        assert.strictEqual(first.items.length, 3)
        assert.isTrue(first.items.every((r) => r.visibility === "public"))
        assert.isTrue(first.items.every((r, i) => i === 0 || r.createdAt >= first.items[i - 1]!.createdAt))
        assert.strictEqual(first.next, first.items[2]!.id)
      })
    )
  })
