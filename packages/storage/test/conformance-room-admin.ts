import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, type RoomId, timeUuidFrom, timeUuidMs, type UserId, type Visibility } from "@parley/domain"
import { Effect, Option } from "effect"
import { type MessageRecord, Messages, type Page, plainMessage, type RoomRecord, Rooms } from "../src/index.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { farFuture, newRoom, newUserId, testMessageBucketMs } from "./fixtures.ts"

/** A room at a far-future time of its own, so listings can be read from just before it. */
const roomAt = (ms: number, createdBy: UserId, visibility: Visibility) =>
  newRoom(createdBy, visibility, timeUuidFrom(ms, 0) as RoomId)

/** The cursor just before a room: a listing read from it starts with that room. */
const justBefore = (room: RoomRecord) => timeUuidFrom(timeUuidMs(room.id) - 1, 0) as RoomId

/** Messages over several of the Cassandra suite's windows, from the room's creation on. */
const history = (room: RoomRecord, count: number): Array<MessageRecord> =>
  Array.from({ length: count }, (_, i) => ({
    roomId: room.id,
    id: timeUuidFrom(room.createdAt + 10 + i * Math.round(testMessageBucketMs * 1.4), 0) as MessageId,
    seq: i + 1,
    userId: room.createdBy,
    username: "owner",
    text: `message ${i}`,
    clientMsgId: i % 2 === 0 ? `c-${i}` : null,
    createdAt: Date.now(),
    ...plainMessage
  }))

const ids = <A extends { readonly id: RoomId }>(page: Page<A, RoomId>) => page.items.map((r) => r.id)

export const roomAdminConformance = (it: Vitest.MethodsNonLive<Rooms | Messages>) =>
  describe("rooms: operators", () => {
    it.effect("lists every room, private ones too, oldest first, page by page", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const base = farFuture()
        const created: Array<RoomRecord> = []
        for (let i = 0; i < 5; i++) {
          const room = roomAt(base + i * 1000, newUserId(), i % 2 === 0 ? "private" : "public")
          yield* rooms.create(room)
          created.push(room)
        }
        // Page by page from just before them; later tests' rooms may follow, so stop at ours.
        const pages: Array<Page<RoomRecord, RoomId>> = []
        let after: RoomId | null = justBefore(created[0]!)
        while (after !== null && pages.length < 3) {
          const page: Page<RoomRecord, RoomId> = yield* rooms.listAll({ after, limit: 2 })
          pages.push(page)
          after = page.next
        }
        assert.deepStrictEqual(pages.flatMap((p) => p.items).slice(0, 5), created)
        assert.deepStrictEqual(
          pages.slice(0, 2).map((p) => p.next),
          [created[1]!.id, created[3]!.id]
        )

        const first = yield* rooms.listAll({ after: null, limit: 3 })
        assert.strictEqual(first.items.length, 3)
        assert.isTrue(first.items.every((r, i) => i === 0 || r.createdAt >= first.items[i - 1]!.createdAt))
        assert.strictEqual(first.next, first.items[2]!.id)
      })
    )

    it.effect("archives a room where it is read and listed; unknown rooms answer false", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const owner = newUserId()
        const member = newUserId()
        const base = farFuture()
        const room = roomAt(base, owner, "public")
        const hidden = roomAt(base + 1000, owner, "private")
        for (const r of [room, hidden]) yield* rooms.create(r)
        yield* rooms.putMember({ roomId: room.id, userId: member, role: "member", joinedAt: room.createdAt + 1 })

        assert.isTrue(yield* rooms.archive(room.id))
        const archived: RoomRecord = { ...room, archived: true }
        assert.deepStrictEqual(yield* rooms.get(room.id), Option.some(archived))
        assert.deepStrictEqual((yield* rooms.listForUser(owner, { after: null, limit: 5 })).items, [
          { room: archived, role: "owner", readSeq: 0 },
          { room: hidden, role: "owner", readSeq: 0 }
        ])
        assert.deepStrictEqual((yield* rooms.listForUser(member, { after: null, limit: 5 })).items, [
          { room: archived, role: "member", readSeq: 0 }
        ])
        assert.deepStrictEqual((yield* rooms.listPublic({ after: justBefore(room), limit: 1 })).items, [archived])
        assert.deepStrictEqual((yield* rooms.listAll({ after: justBefore(room), limit: 2 })).items, [archived, hidden])

        // A member who joins later sees it archived too.
        const late = newUserId()
        yield* rooms.putMember({ roomId: room.id, userId: late, role: "member", joinedAt: room.createdAt + 2 })
        assert.deepStrictEqual((yield* rooms.listForUser(late, { after: null, limit: 5 })).items, [
          { room: archived, role: "member", readSeq: 0 }
        ])

        assert.isTrue(yield* rooms.archive(room.id))
        assert.isTrue(yield* rooms.archive(hidden.id))
        assert.deepStrictEqual((yield* rooms.listAll({ after: room.id, limit: 1 })).items, [
          { ...hidden, archived: true }
        ])
        // The private room is listed for operators only.
        assert.notInclude(ids(yield* rooms.listPublic({ after: room.id, limit: 1 })), hidden.id)
        assert.isFalse(yield* rooms.archive(newRoom(owner).id))
      })
    )

    it.effect("deletes a room with its memberships, listings and history; false the second time", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const messages = yield* Messages
        const owner = newUserId()
        const member = newUserId()
        const base = farFuture()
        const doomed = roomAt(base, owner, "public")
        const kept = roomAt(base + 60_000, owner, "public")
        const keptHistory = history(kept, 7)
        for (const [room, h] of [
          [doomed, history(doomed, 7)],
          [kept, keptHistory]
        ] as const) {
          yield* rooms.create(room)
          yield* rooms.putMember({ roomId: room.id, userId: member, role: "member", joinedAt: room.createdAt + 1 })
          yield* appendAsOwner(messages, room.id, h.slice(0, 3))
          yield* appendAsOwner(messages, room.id, h.slice(3))
        }

        assert.isTrue(yield* rooms.delete(doomed.id))

        assert.isTrue(Option.isNone(yield* rooms.get(doomed.id)))
        for (const user of [owner, member]) {
          assert.isTrue(Option.isNone(yield* rooms.membership(doomed.id, user)))
          assert.deepStrictEqual(
            (yield* rooms.listForUser(user, { after: null, limit: 5 })).items.map((r) => r.room.id),
            [kept.id]
          )
        }
        assert.deepStrictEqual(yield* rooms.listMembers(doomed.id, { after: null, limit: 5 }), {
          items: [],
          next: null
        })
        assert.deepStrictEqual(ids(yield* rooms.listPublic({ after: justBefore(doomed), limit: 1 })), [kept.id])
        assert.deepStrictEqual(ids(yield* rooms.listAll({ after: justBefore(doomed), limit: 1 })), [kept.id])
        assert.deepStrictEqual(yield* messages.listBefore(doomed.id, { before: null, limit: 10 }), [])
        assert.deepStrictEqual(yield* messages.listAfter(doomed.id, { after: null, limit: 10 }), [])
        assert.isTrue(Option.isNone(yield* messages.latest(doomed.id)))
        // Nor is any message's text left where a retried send would look it up.
        for (const i of [0, 2, 4, 6]) {
          assert.isTrue(Option.isNone(yield* messages.findByClientMsgId(doomed.id, owner, `c-${i}`)), `c-${i}`)
        }
        // The room is gone for good: no member can be added to it.
        const error = yield* Effect.flip(
          rooms.putMember({ roomId: doomed.id, userId: newUserId(), role: "member", joinedAt: base + 5 })
        )
        assert.strictEqual(error._tag, "StorageError")

        // The other room, sharing owner and member, is untouched.
        assert.deepStrictEqual(yield* rooms.get(kept.id), Option.some(kept))
        assert.strictEqual((yield* rooms.listMembers(kept.id, { after: null, limit: 5 })).items.length, 2)
        assert.deepStrictEqual(yield* messages.listAfter(kept.id, { after: null, limit: 10 }), keptHistory)
        assert.deepStrictEqual(yield* messages.findByClientMsgId(kept.id, owner, "c-4"), Option.some(keptHistory[4]!))

        assert.isFalse(yield* rooms.delete(doomed.id))
        assert.isFalse(yield* rooms.delete(newRoom(owner).id))
        assert.isFalse(yield* rooms.archive(doomed.id))
      })
    )

    it.effect("a room's live owner cannot append to it once it is deleted: its fence no longer holds", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const messages = yield* Messages
        const room = roomAt(farFuture(), newUserId(), "public")
        yield* rooms.create(room)
        const [first, second] = history(room, 2)
        const owner = yield* messages.claim(room.id)
        yield* messages.append(room.id, [first!], { epoch: owner.epoch, afterSeq: owner.lastSeq })
        assert.isTrue(yield* rooms.delete(room.id))

        const late = yield* Effect.flip(messages.append(room.id, [second!], { epoch: owner.epoch, afterSeq: 1 }))
        assert.strictEqual(late._tag, "StaleWrite")
        assert.deepStrictEqual(yield* messages.listAfter(room.id, { after: null, limit: 10 }), [])
      })
    )

    it.effect("a delete removes the client-id entries of a window larger than one read", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const messages = yield* Messages
        const senders = [newUserId(), newUserId()]
        const room = roomAt(farFuture(), senders[0]!, "public")
        yield* rooms.create(room)
        // One millisecond, so one window on Cassandra, whose delete reads 200 rows at a time.
        const sent: Array<MessageRecord> = Array.from({ length: 230 }, (_, i) => ({
          roomId: room.id,
          id: timeUuidFrom(room.createdAt + 10, i) as MessageId,
          seq: i + 1,
          userId: senders[i % 2]!,
          username: "sender",
          text: `secret ${i}`,
          clientMsgId: `k-${i}`,
          createdAt: Date.now(),
          ...plainMessage
        }))
        for (let i = 0; i < sent.length; i += 10) yield* appendAsOwner(messages, room.id, sent.slice(i, i + 10))
        assert.deepStrictEqual(
          yield* messages.findByClientMsgId(room.id, senders[1]!, "k-229"),
          Option.some(sent[229]!)
        )

        assert.isTrue(yield* rooms.delete(room.id))
        const left = yield* Effect.forEach(
          sent,
          (m) => Effect.map(messages.findByClientMsgId(room.id, m.userId, m.clientMsgId!), Option.isSome),
          { concurrency: 16 }
        )
        assert.strictEqual(left.filter(Boolean).length, 0)
      })
    )
  })
