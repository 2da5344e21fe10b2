import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock, type RoomId, timeUuidFrom, type UserId } from "@parley/domain"
import { Effect, Exit, Option } from "effect"
import { type MessageRecord, Messages, plainMessage } from "../src/index.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { newRoom, newUserId, unique, testMessageBucketMs as w } from "./fixtures.ts"

/**
 * Where each message of a history lies, in windows from an aligned start: several in one
 * window, some on a window's first or last millisecond, and long runs of empty windows
 * between others (20 non-empty windows out of 2,002).
 */
const positions = [
  0, 0.02, 0.98, 1, 1.5, 2, 2.6, 5.2, 5.22, 20, 20.98, 21, 21.02, 28, 60, 60.2, 60.4, 60.98, 61, 155.54, 156, 240,
  240.02, 240.98, 400, 401, 402, 403, 404, 600, 1000, 1000.5, 2001
]
/** Group commits of varying size, some spanning several windows. */
const batchSizes = [1, 3, 2, 7, 1, 5, 4]

const message = (
  roomId: RoomId,
  seq: number,
  id: string,
  userId: UserId,
  clientMsgId: string | null
): MessageRecord => ({
  roomId,
  id: id as MessageId,
  seq,
  userId,
  username: `user-${userId.slice(0, 4)}`,
  text: `message ${seq} ${"é".repeat(seq % 4)}`,
  clientMsgId,
  createdAt: Date.now(),
  ...plainMessage
})

/** A stored history over `positions`, its window-aligned start `t0`, and a TIMEUUID at any window position. */
const storedHistory = Effect.gen(function* () {
  const messages = yield* Messages
  const roomId = newRoom(newUserId()).id
  const t0 = Math.floor((Date.now() - 86_400_000) / w) * w
  const at = (position: number) => timeUuidFrom(t0 + Math.round(position * w), 0) as MessageId
  const users = [newUserId(), newUserId()] as const
  const history: Array<MessageRecord> = positions.map((p, i) =>
    message(roomId, i + 1, at(p), users[i % 2]!, i % 3 === 0 ? unique("c-") : null)
  )
  for (let start = 0, b = 0; start < history.length; b++) {
    const size = batchSizes[b % batchSizes.length]!
    yield* appendAsOwner(messages, roomId, history.slice(start, start + size))
    start += size
  }
  return { roomId, history, at }
})

/** Reads page after page, each from the previous page's last id, until a page comes back empty. */
const readAll = (read: (cursor: MessageId | null) => Effect.Effect<ReadonlyArray<MessageRecord>, unknown>) =>
  Effect.gen(function* () {
    const pages: Array<ReadonlyArray<MessageRecord>> = []
    let cursor: MessageId | null = null
    while (pages.length < 100) {
      const page: ReadonlyArray<MessageRecord> = yield* read(cursor)
      pages.push(page)
      if (page.length === 0) break
      cursor = page.at(-1)!.id
    }
    return pages
  })

const pageSizes = (total: number, limit: number) => [
  ...Array.from({ length: Math.ceil(total / limit) }, (_, i) => Math.min(limit, total - i * limit)),
  0
]

export const messagesConformance = (it: Vitest.MethodsNonLive<Messages>) =>
  describe("messages", () => {
    it.effect("a room without messages has no latest, no pages and no client ids", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const now = timeUuidFrom(Date.now(), 0) as MessageId
        assert.isTrue(Option.isNone(yield* messages.latest(roomId)))
        assert.deepStrictEqual(yield* messages.listBefore(roomId, { before: null, limit: 10 }), [])
        assert.deepStrictEqual(yield* messages.listBefore(roomId, { before: now, limit: 10 }), [])
        assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: null, limit: 10 }), [])
        assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: now, limit: 10 }), [])
        assert.isTrue(Option.isNone(yield* messages.findByClientMsgId(roomId, newUserId(), "c-1")))
      })
    )

    it.effect("appends batches; latest is the newest; a client id finds its message and nothing else", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const otherRoom = newRoom(newUserId()).id
        const clock = makeTimeUuidClock()
        const [alice, bob] = [newUserId(), newUserId()]
        const now = Date.now()
        const first = [
          message(roomId, 1, clock.next(now), alice, "a-1"),
          message(roomId, 2, clock.next(now), bob, null),
          message(roomId, 3, clock.next(now + 1), bob, "b-1")
        ]
        yield* appendAsOwner(messages, roomId, first)
        assert.deepStrictEqual(yield* messages.latest(roomId), Option.some(first[2]!))
        const second = [
          message(roomId, 4, clock.next(now + 2), alice, null),
          message(roomId, 5, clock.next(now + 2), alice, "a-2")
        ]
        yield* appendAsOwner(messages, roomId, second)
        assert.deepStrictEqual(yield* messages.latest(roomId), Option.some(second[1]!))
        yield* appendAsOwner(messages, roomId, [])
        assert.deepStrictEqual(yield* messages.latest(roomId), Option.some(second[1]!))

        assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, alice, "a-1"), Option.some(first[0]!))
        assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, bob, "b-1"), Option.some(first[2]!))
        assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, alice, "a-2"), Option.some(second[1]!))
        assert.isTrue(Option.isNone(yield* messages.findByClientMsgId(roomId, bob, "a-1")))
        assert.isTrue(Option.isNone(yield* messages.findByClientMsgId(roomId, alice, "a-3")))
        assert.isTrue(Option.isNone(yield* messages.findByClientMsgId(otherRoom, alice, "a-1")))
        // Many at once: only what is stored, for that sender in that room; a key twice, once.
        const bySeq = (ms: ReadonlyArray<MessageRecord>) => [...ms].sort((a, b) => a.seq - b.seq)
        const many = yield* messages.findByClientMsgIds(roomId, [
          { userId: alice, clientMsgId: "a-2" },
          { userId: bob, clientMsgId: "a-1" },
          { userId: alice, clientMsgId: "a-3" },
          { userId: bob, clientMsgId: "b-1" },
          { userId: alice, clientMsgId: "a-1" },
          { userId: alice, clientMsgId: "a-1" }
        ])
        assert.deepStrictEqual(bySeq(many), [first[0]!, first[2]!, second[1]!])
        assert.deepStrictEqual(
          yield* messages.findByClientMsgIds(otherRoom, [{ userId: alice, clientMsgId: "a-1" }]),
          []
        )
        assert.deepStrictEqual(yield* messages.findByClientMsgIds(roomId, []), [])
        assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: null, limit: 10 }), [...first, ...second])
      })
    )

    it.effect("listBefore pages newest first across windows, skipping empty ones, to the first message", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const { roomId, history } = yield* storedHistory
        const newestFirst = [...history].reverse()
        assert.deepStrictEqual(yield* messages.listBefore(roomId, { before: null, limit: 1000 }), newestFirst)
        for (const limit of [7, 1, history.length]) {
          const pages = yield* readAll((before) => messages.listBefore(roomId, { before, limit }))
          assert.deepStrictEqual(pages.flat(), newestFirst)
          assert.deepStrictEqual(
            pages.map((p) => p.length),
            pageSizes(history.length, limit)
          )
        }
        assert.deepStrictEqual(yield* messages.latest(roomId), Option.some(history.at(-1)!))
      })
    )

    it.effect("listBefore continues from any position: mid-page, a window edge, an empty window, past either end", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const { roomId, history, at } = yield* storedHistory
        const before = (cursor: MessageId, limit: number) => messages.listBefore(roomId, { before: cursor, limit })
        const newestFirst = (from: number, to: number) => history.slice(from, to).reverse()
        assert.deepStrictEqual(yield* before(history[20]!.id, 5), newestFirst(15, 20))
        // history[14..17] share window 60.
        assert.deepStrictEqual(yield* before(history[16]!.id, 3), newestFirst(13, 16))
        // history[3] opens window 1; history[2] closes window 0.
        assert.deepStrictEqual(yield* before(history[3]!.id, 5), newestFirst(0, 3))
        assert.deepStrictEqual(yield* before(history[11]!.id, 2), newestFirst(9, 11))
        // Window 100 is empty; the nearest older message is in window 61.
        assert.deepStrictEqual(yield* before(at(100), 4), newestFirst(15, 19))
        assert.deepStrictEqual(yield* before(at(5000), 4), newestFirst(history.length - 4, history.length))
        assert.deepStrictEqual(yield* before(history[0]!.id, 5), [])
        assert.deepStrictEqual(yield* before(at(-10), 5), [])
      })
    )

    it.effect("listAfter pages oldest first across windows, skipping empty ones, to the newest message", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const { roomId, history } = yield* storedHistory
        assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: null, limit: 1000 }), history)
        for (const limit of [6, 1, history.length]) {
          const pages = yield* readAll((after) => messages.listAfter(roomId, { after, limit }))
          assert.deepStrictEqual(pages.flat(), history)
          assert.deepStrictEqual(
            pages.map((p) => p.length),
            pageSizes(history.length, limit)
          )
        }
      })
    )

    it.effect("listAfter continues from any position: mid-page, a window edge, an empty window, past either end", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const { roomId, history, at } = yield* storedHistory
        const after = (cursor: MessageId, limit: number) => messages.listAfter(roomId, { after: cursor, limit })
        assert.deepStrictEqual(yield* after(history[10]!.id, 5), history.slice(11, 16))
        // history[14..17] share window 60.
        assert.deepStrictEqual(yield* after(history[15]!.id, 3), history.slice(16, 19))
        // history[2] closes window 0, history[17] window 60.
        assert.deepStrictEqual(yield* after(history[2]!.id, 2), history.slice(3, 5))
        assert.deepStrictEqual(yield* after(history[17]!.id, 3), history.slice(18, 21))
        // Window 100 is empty; the nearest newer message is in window 155.
        assert.deepStrictEqual(yield* after(at(100), 3), history.slice(19, 22))
        assert.deepStrictEqual(yield* after(at(-10), 3), history.slice(0, 3))
        // The smallest TIMEUUID (1582-10-15), which clients use for "from the beginning".
        assert.deepStrictEqual(
          yield* after("00000000-0000-1000-8000-000000000000" as MessageId, 3),
          history.slice(0, 3)
        )
        assert.deepStrictEqual(yield* after(history.at(-1)!.id, 5), [])
        assert.deepStrictEqual(yield* after(at(5000), 5), [])
      })
    )

    it.effect("rooms' histories stay apart even in the same windows", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const a = yield* storedHistory
        const b = yield* storedHistory
        assert.deepStrictEqual(yield* messages.listAfter(a.roomId, { after: null, limit: 1000 }), a.history)
        assert.deepStrictEqual(
          yield* messages.listBefore(b.roomId, { before: null, limit: 1000 }),
          [...b.history].reverse()
        )
        assert.deepStrictEqual(yield* messages.latest(a.roomId), Option.some(a.history.at(-1)!))
      })
    )

    describe("fencing", () => {
      /** A room's next messages after `seq`, from one sender, each with a client id. */
      const batch = (roomId: RoomId, afterSeq: number, count: number) => {
        const clock = makeTimeUuidClock()
        const userId = newUserId()
        return Array.from({ length: count }, (_, i) =>
          message(roomId, afterSeq + 1 + i, clock.next(Date.now() + afterSeq + i), userId, unique("f-"))
        )
      }
      /** The refusal an append met, or "stored". */
      const outcome = (effect: Effect.Effect<void, { readonly _tag: string; readonly reason?: string }>) =>
        Effect.map(Effect.exit(effect), (exit) =>
          Exit.isSuccess(exit)
            ? "stored"
            : Option.match(Exit.findErrorOption(exit), {
                onNone: () => "defect",
                onSome: (e) => `${e._tag}: ${e.reason ?? ""}`
              })
        )
      /** What storage holds for the room: history, newest, and whether each client id is there. */
      const holds = (roomId: RoomId, sent: ReadonlyArray<MessageRecord>) =>
        Effect.gen(function* () {
          const messages = yield* Messages
          const found = yield* Effect.forEach(sent, (m) =>
            messages.findByClientMsgId(roomId, m.userId, m.clientMsgId!).pipe(Effect.map(Option.isSome))
          )
          return {
            history: yield* messages.listAfter(roomId, { after: null, limit: 100 }),
            latest: yield* messages.latest(roomId),
            clientIds: found
          }
        })

      it.effect("a claim takes over the head: a higher epoch, and the newest stored seq and id", () =>
        Effect.gen(function* () {
          const messages = yield* Messages
          const roomId = newRoom(newUserId()).id
          const first = yield* messages.claim(roomId)
          assert.deepStrictEqual({ ...first, epoch: 0 }, { epoch: 0, lastSeq: 0, lastId: null, repaired: [] })
          const sent = batch(roomId, 0, 3)
          yield* messages.append(roomId, sent, { epoch: first.epoch, afterSeq: 0 })
          const second = yield* messages.claim(roomId)
          assert.isAbove(second.epoch, first.epoch)
          assert.strictEqual(second.lastSeq, 3)
          assert.strictEqual(second.lastId, sent[2]!.id)
          // Whatever a claim repairs is part of what is stored, unchanged.
          for (const m of second.repaired) assert.deepInclude(sent, m)
          assert.deepStrictEqual((yield* holds(roomId, sent)).history, sent)
        })
      )

      it.effect("an append from a deposed claim is refused and stores nothing; the new owner's goes on", () =>
        Effect.gen(function* () {
          const messages = yield* Messages
          const roomId = newRoom(newUserId()).id
          const a = yield* messages.claim(roomId)
          const first = batch(roomId, 0, 1)
          yield* messages.append(roomId, first, { epoch: a.epoch, afterSeq: 0 })
          const b = yield* messages.claim(roomId)
          const c = yield* messages.claim(roomId)
          // A write A prepared before it lost the room, arriving now: refused, and so is B's.
          const late = batch(roomId, 1, 2)
          assert.strictEqual(
            yield* outcome(messages.append(roomId, late, { epoch: a.epoch, afterSeq: 1 })),
            "StaleWrite: deposed"
          )
          assert.strictEqual(
            yield* outcome(messages.append(roomId, late, { epoch: b.epoch, afterSeq: 1 })),
            "StaleWrite: deposed"
          )
          assert.deepStrictEqual(yield* holds(roomId, late), {
            history: first,
            latest: Option.some(first[0]!),
            clientIds: [false, false]
          })
          const next = batch(roomId, 1, 2)
          assert.strictEqual(yield* outcome(messages.append(roomId, next, { epoch: c.epoch, afterSeq: 1 })), "stored")
          assert.deepStrictEqual((yield* holds(roomId, next)).history, [...first, ...next])
          // Even a deposed writer that knows the new head is refused.
          assert.strictEqual(
            yield* outcome(messages.append(roomId, batch(roomId, 3, 1), { epoch: a.epoch, afterSeq: 3 })),
            "StaleWrite: deposed"
          )
        })
      )

      it.effect("an append that does not continue from the stored head is refused and stores nothing", () =>
        Effect.gen(function* () {
          const messages = yield* Messages
          const roomId = newRoom(newUserId()).id
          const { epoch } = yield* messages.claim(roomId)
          const first = batch(roomId, 0, 2)
          yield* messages.append(roomId, first, { epoch, afterSeq: 0 })
          // A second writer with this epoch that missed seq 2 (or a timed-out write that landed).
          const behind = batch(roomId, 1, 2)
          assert.strictEqual(
            yield* outcome(messages.append(roomId, behind, { epoch, afterSeq: 1 })),
            "StaleWrite: stale head"
          )
          const ahead = batch(roomId, 3, 1)
          assert.strictEqual(
            yield* outcome(messages.append(roomId, ahead, { epoch, afterSeq: 3 })),
            "StaleWrite: stale head"
          )
          assert.deepStrictEqual(yield* holds(roomId, [...behind, ...ahead]), {
            history: first,
            latest: Option.some(first[1]!),
            clientIds: [false, false, false]
          })
          const next = batch(roomId, 2, 1)
          assert.strictEqual(yield* outcome(messages.append(roomId, next, { epoch, afterSeq: 2 })), "stored")
        })
      )

      it.effect("an append to a room never claimed is refused", () =>
        Effect.gen(function* () {
          const messages = yield* Messages
          const roomId = newRoom(newUserId()).id
          const sent = batch(roomId, 0, 1)
          assert.strictEqual(
            yield* outcome(messages.append(roomId, sent, { epoch: 1, afterSeq: 0 })),
            "StaleWrite: deposed"
          )
          assert.deepStrictEqual((yield* holds(roomId, sent)).history, [])
        })
      )
    })
  })
