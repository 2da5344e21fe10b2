import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock, type RoomId, type UserId } from "@parley/domain"
import { Effect, Option } from "effect"
import { type MessageRecord, Messages, plainMessage } from "../src/index.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { newRoom, newUserId, testMessageBucketMs as w } from "./fixtures.ts"

/** Record builders on their own id clock (ids increase with `at`, which each test chooses). */
const entries = () => {
  const clock = makeTimeUuidClock()
  const message = (roomId: RoomId, seq: number, at: number, userId: UserId, text: string): MessageRecord => ({
    roomId,
    id: clock.next(at) as MessageId,
    seq,
    userId,
    username: `user-${userId.slice(0, 4)}`,
    text,
    clientMsgId: null,
    createdAt: at,
    ...plainMessage
  })
  /** An edit (new `text`) or a delete (no text) of `target`, by `by`, stored as entry `seq`. */
  const change = (
    target: MessageRecord,
    seq: number,
    at: number,
    by: UserId,
    text: string | null,
    extra: Partial<MessageRecord> = {}
  ): MessageRecord => ({
    ...message(target.roomId, seq, at, by, text ?? ""),
    kind: text === null ? "delete" : "edit",
    targetId: target.id,
    clientMsgId: `change-${seq}`,
    ...extra
  })
  return { message, change, id: (at: number) => clock.next(at) as MessageId }
}

/** `find`'s answer without the backend's `partition`, to compare with what was written. */
const found = (messages: Messages["Service"], roomId: RoomId, id: MessageId) =>
  Effect.map(
    messages.find(roomId, id),
    Option.map(({ partition: _, ...record }) => record as MessageRecord)
  )

export const editsConformance = (it: Vitest.MethodsNonLive<Messages>) =>
  describe("edits and deletes", () => {
    it.effect("an edit and a delete are entries with their own seq; their targets hold the current state", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const { message, change } = entries()
        const roomId = newRoom(newUserId()).id
        const [ada, bob] = [newUserId(), newUserId()]
        const now = Date.now()
        const first = message(roomId, 1, now, ada, "hello")
        const second = message(roomId, 2, now, bob, "hi")
        yield* appendAsOwner(messages, roomId, [first, second])
        const edit = change(first, 3, now + 1, ada, "hello, world")
        const remove = change(second, 4, now + 1, ada, null)
        yield* appendAsOwner(messages, roomId, [edit, remove])

        const edited = { ...first, text: "hello, world", editedAt: edit.createdAt }
        const tombstone = { ...second, text: "", deletedBy: ada }
        assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: null, limit: 10 }), [
          edited,
          tombstone,
          edit,
          remove
        ])
        assert.deepStrictEqual(yield* found(messages, roomId, first.id), Option.some(edited))
        assert.deepStrictEqual(yield* found(messages, roomId, second.id), Option.some(tombstone))
        assert.deepStrictEqual(yield* found(messages, roomId, edit.id), Option.some(edit))
        assert.deepStrictEqual(yield* messages.latest(roomId), Option.some(remove))
        // An edit's client id finds the edit (a retry answers with it).
        assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, ada, "change-3"), Option.some(edit))
      })
    )

    it.effect("find knows only the room's own rows", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const { message, id } = entries()
        const roomId = newRoom(newUserId()).id
        const other = newRoom(newUserId()).id
        const m = message(roomId, 1, Date.now(), newUserId(), "mine")
        yield* appendAsOwner(messages, roomId, [m])
        assert.isTrue(Option.isNone(yield* messages.find(other, m.id)))
        assert.isTrue(Option.isNone(yield* messages.find(roomId, id(Date.now()))))
        assert.isTrue(Option.isNone(yield* messages.find(newRoom(newUserId()).id, m.id)))
      })
    )

    it.effect("changes to a message of the same batch, and several changes to one message, apply in order", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const { message, change } = entries()
        const roomId = newRoom(newUserId()).id
        const ada = newUserId()
        const now = Date.now()
        const old = message(roomId, 1, now, ada, "old")
        yield* appendAsOwner(messages, roomId, [old])
        const fresh = message(roomId, 2, now + 1, ada, "fresh")
        const batch = [
          fresh,
          change(fresh, 3, now + 1, ada, "fresher"),
          change(old, 4, now + 1, ada, "older"),
          change(old, 5, now + 2, ada, "oldest"),
          change(old, 6, now + 2, ada, null),
          change(fresh, 7, now + 2, ada, "freshest")
        ]
        yield* appendAsOwner(messages, roomId, batch)
        assert.deepStrictEqual(
          yield* found(messages, roomId, old.id),
          Option.some({ ...old, text: "", editedAt: now + 2, deletedBy: ada })
        )
        assert.deepStrictEqual(
          yield* found(messages, roomId, fresh.id),
          Option.some({ ...fresh, text: "freshest", editedAt: now + 2 })
        )
        const page = yield* messages.listAfter(roomId, { after: null, limit: 10 })
        assert.deepStrictEqual(
          page.map((m) => [m.seq, m.kind, m.text]),
          [
            [1, "message", ""],
            [2, "message", "freshest"],
            [3, "edit", "fresher"],
            [4, "edit", "older"],
            [5, "edit", "oldest"],
            [6, "delete", ""],
            [7, "edit", "freshest"]
          ]
        )
      })
    )

    it.effect("edits and deletes reach messages of older windows (partitions on Cassandra), found or not", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const { message, change } = entries()
        const roomId = newRoom(newUserId()).id
        const ada = newUserId()
        const t0 = Math.floor((Date.now() - 3_600_000) / w) * w
        const history = [0, 3, 7, 12].map((window, i) => message(roomId, i + 1, t0 + window * w + 1, ada, `m${i + 1}`))
        for (const m of history) yield* appendAsOwner(messages, roomId, [m])
        const [a, b, c] = history
        const foundA = Option.getOrThrow(yield* messages.find(roomId, a!.id))
        const now = t0 + 20 * w
        yield* appendAsOwner(messages, roomId, [
          // With the partition `find` gave, without one (looked up), and one opening a new window.
          change(a!, 5, now, ada, "a, edited", { targetPartition: foundA.partition }),
          change(b!, 6, now, ada, null)
        ])
        yield* appendAsOwner(messages, roomId, [change(c!, 7, now + 5 * w, ada, "c, edited")])
        const page = yield* messages.listAfter(roomId, { after: null, limit: 10 })
        assert.deepStrictEqual(
          page.slice(0, 4).map((m) => [m.text, m.editedAt, m.deletedBy]),
          [
            ["a, edited", now, null],
            ["", null, ada],
            ["c, edited", now + 5 * w, null],
            ["m4", null, null]
          ]
        )
      })
    )
  })
