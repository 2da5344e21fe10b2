/**
 * Presence deltas, coalesced per room: what a window of joins and leaves publishes, that the
 * work per join does not grow with the room (one publish per window whether 1 or 2,000
 * joined), count-only rooms, and the online list's pages. Memory store and broker, TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import type { RoomId, UserId } from "@parley/domain"
import { Duration, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Broker, type RoomEvent } from "../src/realtime/broker.ts"
import { makePresence, Presence, type PresenceOptions } from "../src/realtime/presence.ts"
import { memoryStore } from "../src/realtime/presence-store.ts"

const window = Duration.millis(200)
const options: PresenceOptions = { window, pageSize: 3, diffLimit: 10_000 }

const world = (overrides: Partial<PresenceOptions> = {}) =>
  Presence.layerMemory({ ...options, ...overrides }).pipe(Layer.provideMerge(Broker.layerMemory))

/** A room, a recorder of what the broker publishes to it, and a few helpers. */
const setup = Effect.gen(function* () {
  const presence = yield* Presence
  const broker = yield* Broker
  const roomId = crypto.randomUUID() as RoomId
  const published: Array<RoomEvent> = []
  yield* broker.subscribe(roomId, (event) => void published.push(event))
  const users = new Map<string, UserId>()
  const idOf = (name: string) => {
    let id = users.get(name)
    if (id === undefined) {
      id = crypto.randomUUID() as UserId
      users.set(name, id)
    }
    return id
  }
  const join = (name: string, connId = `${name}-tab`) =>
    presence.join(roomId, { connId, userId: idOf(name), username: name })
  const leave = (name: string, connId = `${name}-tab`) => presence.leave(roomId, connId)
  const who = (name: string) => ({ user_id: idOf(name), username: name })
  return { presence, roomId, published, join, leave, who }
})

const endWindow = TestClock.adjust(window)

describe("presence deltas", () => {
  it.effect("nothing goes out before the window ends; then one diff with the users who came online", () =>
    Effect.gen(function* () {
      const { published, join, who } = yield* setup
      yield* join("ada")
      yield* join("bob")
      assert.deepStrictEqual(published, [])
      yield* endWindow
      assert.deepStrictEqual(published, [
        { kind: "presence.diff", joined: [who("ada"), who("bob")], left: [], count: 2 }
      ])
    }).pipe(Effect.provide(world()))
  )

  it.effect("per user: a second tab sends nothing, closing one of two sends nothing, the last one sends left", () =>
    Effect.gen(function* () {
      const { published, join, leave, who } = yield* setup
      yield* join("ada", "tab-1")
      yield* endWindow
      published.length = 0
      yield* join("ada", "tab-2")
      yield* endWindow
      yield* leave("ada", "tab-1")
      yield* endWindow
      assert.deepStrictEqual(published, [])
      yield* leave("ada", "tab-2")
      yield* endWindow
      assert.deepStrictEqual(published, [{ kind: "presence.diff", joined: [], left: [who("ada")], count: 0 }])
    }).pipe(Effect.provide(world()))
  )

  it.effect(
    "someone who comes and goes within one window goes out as the store ends it: a list read between may hold them",
    () =>
      Effect.gen(function* () {
        const { presence, roomId, published, join, leave, who } = yield* setup
        yield* join("ada")
        yield* endWindow
        published.length = 0
        yield* join("bob")
        // A subscriber arriving now reads bob in its list: only a `left` takes him out again.
        assert.deepStrictEqual((yield* presence.page(roomId)).online, [who("ada"), who("bob")])
        yield* leave("bob")
        yield* leave("ada")
        yield* join("ada", "other-tab")
        yield* endWindow
        assert.deepStrictEqual(published, [
          { kind: "presence.diff", joined: [who("ada")], left: [who("bob")], count: 1 }
        ])
        published.length = 0
        yield* join("cyd")
        yield* leave("cyd")
        yield* join("cyd", "again")
        yield* endWindow
        assert.deepStrictEqual(published, [{ kind: "presence.diff", joined: [who("cyd")], left: [], count: 2 }])
      }).pipe(Effect.provide(world()))
  )

  it.effect("the work per join does not grow with the room: one publish per window for 1 or for 2,000 joins", () =>
    Effect.gen(function* () {
      const publishesFor = (joins: number) =>
        Effect.gen(function* () {
          const { published, join, who } = yield* setup
          for (let i = 0; i < joins; i++) yield* join(`user${i}`)
          yield* endWindow
          return { published, join, who }
        })
      const one = (yield* publishesFor(1)).published
      const full = yield* publishesFor(2000)
      const many = full.published
      assert.strictEqual(one.length, 1)
      assert.strictEqual(many.length, 1)
      assert.strictEqual((many[0] as Extract<RoomEvent, { kind: "presence.diff" }>).joined.length, 2000)
      // The next join into the full room is again one publish, carrying only itself.
      yield* full.join("latecomer")
      yield* endWindow
      assert.deepStrictEqual(many.slice(1), [
        { kind: "presence.diff", joined: [full.who("latecomer")], left: [], count: 2001 }
      ])
    }).pipe(Effect.provide(world()))
  )

  it.effect("above diffLimit only the count goes out, once per window in which users came or went", () =>
    Effect.gen(function* () {
      const { published, join, leave, who } = yield* setup
      for (let i = 0; i < 3; i++) yield* join(`user${i}`)
      yield* endWindow
      assert.deepStrictEqual(published, [
        { kind: "presence.diff", joined: [who("user0"), who("user1"), who("user2")], left: [], count: 3 }
      ])
      published.length = 0
      for (let i = 3; i < 500; i++) yield* join(`user${i}`)
      yield* endWindow
      assert.deepStrictEqual(published, [{ kind: "presence.count", count: 500 }])
      // Nobody came or went: nothing to say.
      yield* endWindow
      assert.strictEqual(published.length, 1)
      // One in, one out: the same count, sent again (another node may have sent another since).
      yield* join("newcomer")
      yield* leave("user0")
      yield* endWindow
      assert.deepStrictEqual(published.slice(1), [{ kind: "presence.count", count: 500 }])
      yield* leave("user1")
      yield* endWindow
      assert.deepStrictEqual(published.at(-1), { kind: "presence.count", count: 499 })
      // Back at or under the limit, per-user changes resume (at most diffLimit users a window).
      for (let i = 2; i < 499; i++) {
        yield* leave(`user${i}`)
        if (i % 100 === 1) yield* endWindow
      }
      yield* endWindow
      assert.deepStrictEqual(published.at(-1), {
        kind: "presence.diff",
        joined: [],
        left: Array.from({ length: 97 }, (_, i) => who(`user${i + 402}`)),
        count: 2
      })
    }).pipe(Effect.provide(world({ diffLimit: 100 })))
  )

  it.effect("a window with more changed users than diffLimit sends the count, not thousands of names", () =>
    Effect.gen(function* () {
      const { published, join, leave, who } = yield* setup
      for (let i = 0; i < 150; i++) yield* join(`user${i}`)
      yield* endWindow
      published.length = 0
      // A mass leave back under the limit: 120 names would go to everyone left.
      for (let i = 0; i < 120; i++) yield* leave(`user${i}`)
      yield* endWindow
      assert.deepStrictEqual(published, [{ kind: "presence.count", count: 30 }])
      yield* leave("user120")
      yield* endWindow
      assert.deepStrictEqual(published.at(-1), { kind: "presence.diff", joined: [], left: [who("user120")], count: 29 })
    }).pipe(Effect.provide(world({ diffLimit: 100 })))
  )

  it.effect("with two nodes, the last count published is the room's count, whichever node sent the one before", () =>
    Effect.gen(function* () {
      // Two nodes' presence over one store and one broker, as with Redis.
      const store = memoryStore()
      const nodeA = (yield* makePresence(store, { ...options, diffLimit: 2 })).service
      const nodeB = (yield* makePresence(store, { ...options, diffLimit: 2 })).service
      const { roomId, published } = yield* setup
      const entry = (name: string) => ({ connId: name, userId: crypto.randomUUID() as UserId, username: name })
      for (const name of ["ada", "bob", "cyd"]) yield* nodeA.join(roomId, entry(name))
      yield* endWindow
      assert.deepStrictEqual(published.at(-1), { kind: "presence.count", count: 3 })
      yield* nodeB.join(roomId, entry("dan"))
      yield* endWindow
      assert.deepStrictEqual(published.at(-1), { kind: "presence.count", count: 4 })
      // Back to the count node A sent last: it must still go out, or everyone keeps 4.
      yield* nodeA.leave(roomId, "ada")
      yield* endWindow
      assert.deepStrictEqual(published.at(-1), { kind: "presence.count", count: 3 })
    }).pipe(Effect.scoped, Effect.provide(world()))
  )

  it.effect("rooms are flushed separately in the same window", () =>
    Effect.gen(function* () {
      const a = yield* setup
      const b = yield* setup
      yield* a.join("ada")
      yield* b.join("bob")
      yield* endWindow
      assert.strictEqual(a.published.length, 1)
      assert.strictEqual(b.published.length, 1)
    }).pipe(Effect.provide(world()))
  )
})

describe("the online list", () => {
  it.effect("pages of pageSize in username order, each with the count, walked by next_cursor", () =>
    Effect.gen(function* () {
      const { presence, roomId, join, who } = yield* setup
      for (const name of ["eve", "dan", "cyd", "bob", "ada"]) yield* join(name)
      const first = yield* presence.page(roomId)
      assert.deepStrictEqual(first.online, [who("ada"), who("bob"), who("cyd")])
      assert.strictEqual(first.count, 5)
      assert.isString(first.next_cursor)
      const second = yield* presence.page(roomId, first.next_cursor)
      assert.deepStrictEqual(second, { online: [who("dan"), who("eve")], count: 5 })
    }).pipe(Effect.provide(world()))
  )

  it.effect("a cursor the server did not hand out is refused", () =>
    Effect.gen(function* () {
      const { presence, roomId } = yield* setup
      for (const cursor of ["not base64 at all!", Buffer.from("no-space").toString("base64url"), ""]) {
        const error = yield* Effect.flip(presence.page(roomId, cursor))
        assert.strictEqual(error._tag, "InvalidCursor")
      }
    }).pipe(Effect.provide(world()))
  )
})
