import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, type RoomId, timeUuidFrom } from "@parley/domain"
import { Effect, Schedule } from "effect"
import { TestClock } from "effect/testing"
import {
  AuditLog,
  type AuditRecord,
  type MessageRecord,
  Messages,
  type Page,
  plainMessage,
  Rooms,
  StorageStats,
  type UserRecord,
  Users,
  usernameKey
} from "../src/index.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { farFuture, newRoom, newUser, newUserId, unique } from "./fixtures.ts"

const dayMs = 86_400_000

/** Every page of a user listing from `after`, each at most `limit` long. */
const userPages = (
  users: Users["Service"],
  options: { readonly prefix: string | null; readonly after: string | null; readonly limit: number }
) =>
  Effect.gen(function* () {
    const pages: Array<Page<UserRecord, string>> = []
    let after = options.after
    do {
      const page: Page<UserRecord, string> = yield* users.list({ ...options, after })
      assert.isAtMost(page.items.length, options.limit)
      pages.push(page)
      after = page.next
    } while (after !== null && pages.length < 20)
    return pages
  })

const names = (pages: ReadonlyArray<Page<UserRecord, string>>) => pages.flatMap((p) => p.items.map((u) => u.username))

const message = (roomId: RoomId, seq: number, at: number): MessageRecord => ({
  roomId,
  id: timeUuidFrom(at, 0) as MessageId,
  seq,
  userId: newUserId(),
  username: "counted",
  text: `message ${seq}`,
  clientMsgId: null,
  createdAt: at,
  ...plainMessage
})

export const adminConformance = (it: Vitest.MethodsNonLive<Users | Rooms | Messages | AuditLog | StorageStats>) => {
  describe("users: listing", () => {
    it.effect("lists users by username key, searches a prefix regardless of case, page by page", () =>
      Effect.gen(function* () {
        const users = yield* Users
        // "ls" + 8 hex digits + "m": no other test's username starts with it.
        const p = `${unique("ls")}m`
        const stem = p.slice(0, -1)
        const inRange = [p, `${p}a`, `${p}B1`, `${p}b2`, `${p}C`, `${p}d.e`, `${p}Z`]
        // Neighbours on both sides of the range: they must never be listed with it.
        const below = `${stem}lzz`
        const above = `${stem}n`
        for (const name of [`${p}C`, above, `${p}a`, p, `${p}Z`, below, `${p}b2`, `${p}d.e`, `${p}B1`]) {
          yield* users.create(newUser(name, `${name}@example.com`))
        }

        const pages = yield* userPages(users, { prefix: p.toUpperCase(), after: null, limit: 3 })
        assert.deepStrictEqual(names(pages), inRange)
        assert.deepStrictEqual(
          pages.map((page) => page.items.length),
          [3, 3, 1]
        )
        assert.deepStrictEqual(
          pages.map((page) => page.next),
          [usernameKey(`${p}b1`), usernameKey(`${p}d.e`), null]
        )
        const found = pages[0]!.items[0]!
        assert.strictEqual(found.email, `${p}@example.com`)
        assert.strictEqual(found.role, "user")

        assert.deepStrictEqual(names(yield* userPages(users, { prefix: ` ${p}b`, after: null, limit: 5 })), [
          `${p}B1`,
          `${p}b2`
        ])
        // A cursor before the range starts at the prefix; one inside continues after it.
        assert.deepStrictEqual(names(yield* userPages(users, { prefix: p, after: below, limit: 2 })).slice(0, 2), [
          p,
          `${p}a`
        ])
        const tail = yield* users.list({ prefix: p, after: usernameKey(`${p}C`), limit: 2 })
        assert.deepStrictEqual(
          tail.items.map((u) => u.username),
          [`${p}d.e`, `${p}Z`]
        )
        assert.strictEqual(tail.next, null)
        assert.deepStrictEqual(yield* users.list({ prefix: p, after: above, limit: 2 }), { items: [], next: null })
        assert.deepStrictEqual(yield* users.list({ prefix: `${p}q`, after: null, limit: 2 }), { items: [], next: null })

        // Without a prefix: every user, in key order, the neighbours included.
        const all = yield* users.list({ prefix: null, after: usernameKey(below), limit: inRange.length + 1 })
        assert.deepStrictEqual(
          all.items.map((u) => u.username),
          [...inRange, above]
        )
        const first = yield* users.list({ prefix: null, after: null, limit: 2 })
        assert.strictEqual(first.items.length, 2)
        const [a, b] = first.items.map((u) => usernameKey(u.username))
        assert.isTrue(a! < b!)
        assert.strictEqual(first.next, b)
      })
    )
  })

  describe("stats", () => {
    // Live clock: the message counter is updated after the append returns, so the totals are
    // polled until they settle (or the poll gives up and the assertion shows the difference).
    it.effect("counts users, rooms that exist, and messages stored since the day's start", () =>
      Effect.gen(function* () {
        const users = yield* Users
        const rooms = yield* Rooms
        const messages = yield* Messages
        const stats = yield* StorageStats
        // A day of its own, so no other test's messages fall in it.
        const day = Math.floor(farFuture() / dayMs) * dayMs
        const before = yield* stats.counts(day)

        const name = unique("counted_")
        yield* users.create(newUser(name, `${name}@example.com`))
        yield* users.create(newUser(unique("counted_"), `${unique("c")}@example.com`))
        // A signup that fails is not a user.
        yield* Effect.flip(users.create(newUser(name, `${unique("c")}@example.com`)))

        const owner = newUserId()
        const created = [newRoom(owner, "public"), newRoom(owner), newRoom(owner)]
        for (const room of created) yield* rooms.create(room)
        assert.isTrue(yield* rooms.delete(created[1]!.id))
        assert.isFalse(yield* rooms.delete(created[1]!.id))
        assert.isFalse(yield* rooms.delete(newRoom(owner).id))

        const roomA = newRoom(owner).id
        const roomB = newRoom(owner).id
        yield* appendAsOwner(messages, roomA, [message(roomA, 1, day - 1)])
        yield* appendAsOwner(messages, roomA, [message(roomA, 2, day), message(roomA, 3, day + 5)])
        yield* appendAsOwner(messages, roomB, [message(roomB, 1, day + dayMs - 1)])

        const expected = { users: 2, rooms: 2, messagesToday: 3 }
        const delta = stats.counts(day).pipe(
          Effect.map((after) => ({
            users: after.users - before.users,
            rooms: after.rooms - before.rooms,
            messagesToday: after.messagesToday - before.messagesToday
          }))
        )
        const settled = yield* delta.pipe(
          Effect.repeat({
            while: (d) => d.messagesToday !== expected.messagesToday,
            schedule: Schedule.spaced("20 millis"),
            times: 250
          }),
          TestClock.withLive
        )
        assert.deepStrictEqual(settled, expected)
      })
    )

    it.effect("concurrent deletes of one room take it off the total once", () =>
      Effect.gen(function* () {
        const rooms = yield* Rooms
        const stats = yield* StorageStats
        const room = newRoom(newUserId())
        yield* rooms.create(room)
        const before = yield* stats.counts(0)
        const results = yield* Effect.forEach(Array.from({ length: 6 }), () => rooms.delete(room.id), {
          concurrency: "unbounded"
        })
        assert.isTrue(results.includes(true))
        assert.strictEqual((yield* stats.counts(0)).rooms, before.rooms - 1)
      })
    )
  })

  describe("audit log", () => {
    it.effect("appends entries and reads them newest first, paging with `before`", () =>
      Effect.gen(function* () {
        const audit = yield* AuditLog
        const admin = newUserId()
        const base = farFuture()
        // A month or more apart, so they spread over more months than one read of
        // Cassandra's month index returns; the last two share a millisecond and are ordered
        // by the rest of their ids.
        const times = [0, 31, 62, 93, 124, 155, 186, 186].map((d) => base + d * dayMs)
        const entries: Array<AuditRecord> = times.map((at, i) => ({
          id: timeUuidFrom(at, i) as MessageId,
          at,
          actorId: i === 0 ? null : admin,
          actor: i === 0 ? "operator" : "root",
          action: i % 2 === 0 ? "user.disable" : "room.archive",
          targetType: i % 2 === 0 ? "user" : "room",
          targetId: crypto.randomUUID(),
          detail: i % 3 === 0 ? null : `role=admin ${i}`,
          requestId: i % 2 === 0 ? null : `req-${i}`
        }))
        for (const i of [3, 0, 6, 1, 7, 5, 2, 4]) yield* audit.append(entries[i]!)
        const newestFirst = [...entries].reverse()

        assert.deepStrictEqual(yield* audit.list({ before: null, limit: 3 }), newestFirst.slice(0, 3))
        assert.deepStrictEqual(yield* audit.list({ before: null, limit: 20 }), newestFirst)
        const pages: Array<ReadonlyArray<AuditRecord>> = []
        let before: MessageId | null = timeUuidFrom(base + 400 * dayMs, 0) as MessageId
        while (pages.length < 10) {
          const page: ReadonlyArray<AuditRecord> = yield* audit.list({ before, limit: 3 })
          pages.push(page)
          if (page.length < 3) break
          before = page.at(-1)!.id
        }
        assert.deepStrictEqual(pages.flat(), newestFirst)
        assert.deepStrictEqual(
          pages.map((p) => p.length),
          [3, 3, 2]
        )
        // A cursor weeks after the entry before it reads on into older months.
        assert.deepStrictEqual(
          yield* audit.list({ before: timeUuidFrom(base + 50 * dayMs, 0) as MessageId, limit: 10 }),
          [entries[1]!, entries[0]!]
        )
        assert.deepStrictEqual(yield* audit.list({ before: entries[0]!.id, limit: 10 }), [])
        assert.deepStrictEqual(yield* audit.list({ before: entries[7]!.id, limit: 1 }), [entries[6]!])
      })
    )
  })
}
