/**
 * The presence store's contract, run on the memory store (unit) and on Redis (integration):
 * per-user counting across connections, the page order and cursor, `state`.
 */
import { assert, describe, layer } from "@effect/vitest"
import type { RoomId, UserId } from "@parley/domain"
import { Effect, type Layer } from "effect"
import { type PresencePage, type PresenceStore, userKey } from "../src/realtime/presence-store.ts"

const newRoom = () => crypto.randomUUID() as RoomId
const user = (username: string) => ({ userId: crypto.randomUUID() as UserId, username })
const conn = () => crypto.randomUUID()

export const presenceStoreContract = <R, E>(
  backend: string,
  services: Layer.Layer<R, E>,
  makeStore: Effect.Effect<PresenceStore, never, R>
) =>
  layer(services, { timeout: 60_000 })(`presence store contract (${backend})`, (it) => {
    describe("per user, not per connection", () => {
      it.effect("a second connection of a user changes nothing; the last one out makes the user leave", () =>
        Effect.gen(function* () {
          const store = yield* makeStore
          const room = newRoom()
          const ada = user("ada")
          const [tab1, tab2] = [conn(), conn()]
          const first = yield* store.join(room, { connId: tab1, ...ada })
          assert.deepStrictEqual(first, [{ joined: true, user: { user_id: ada.userId, username: "ada" } }])
          assert.deepStrictEqual(yield* store.join(room, { connId: tab2, ...ada }), [])
          // The same connection again (a retried subscribe) is not a second one.
          assert.deepStrictEqual(yield* store.join(room, { connId: tab2, ...ada }), [])
          assert.deepStrictEqual(yield* store.leave(room, tab1), [])
          assert.strictEqual((yield* store.state(room, [])).count, 1)
          const last = yield* store.leave(room, tab2)
          assert.deepStrictEqual(last, [{ joined: false, user: { user_id: ada.userId, username: "ada" } }])
          assert.strictEqual((yield* store.state(room, [])).count, 0)
          // Leaving twice, or with an unknown id, changes nothing.
          assert.deepStrictEqual(yield* store.leave(room, tab2), [])
          assert.deepStrictEqual(yield* store.leave(room, conn()), [])
        })
      )

      it.effect("rooms are separate", () =>
        Effect.gen(function* () {
          const store = yield* makeStore
          const [a, b] = [newRoom(), newRoom()]
          const bob = user("bob")
          yield* store.join(a, { connId: conn(), ...bob })
          const inB = yield* store.join(b, { connId: conn(), ...bob })
          assert.strictEqual(inB.length, 1)
          assert.strictEqual((yield* store.state(a, [])).count, 1)
        })
      )
    })

    describe("pages", () => {
      it.effect("pages walk every user once, in username order, each with the count", () =>
        Effect.gen(function* () {
          const store = yield* makeStore
          const room = newRoom()
          const names = Array.from({ length: 23 }, (_, i) => `u${String(i).padStart(2, "0")}`).reverse()
          for (const name of names) {
            const u = user(name)
            yield* store.join(room, { connId: conn(), ...u })
            yield* store.join(room, { connId: conn(), ...u })
          }
          const seen: Array<string> = []
          let after: string | null = null
          let pages = 0
          do {
            const page: PresencePage = yield* store.page(room, after, 10)
            assert.strictEqual(page.count, 23)
            assert.isAtMost(page.users.length, 10)
            seen.push(...page.users.map((u) => u.username))
            after = page.next
            pages++
          } while (after !== null && pages < 10)
          assert.deepStrictEqual(seen, [...names].sort())
          assert.strictEqual(pages, 3)
        })
      )

      it.effect("the first page always shows the room as it is now, whatever was read before", () =>
        Effect.gen(function* () {
          const store = yield* makeStore
          const room = newRoom()
          const [ada, bob] = [user("ada"), user("bob")]
          const names = (page: PresencePage) => [page.users.map((u) => u.username), page.count]
          const adaTab = conn()
          yield* store.join(room, { connId: adaTab, ...ada })
          assert.deepStrictEqual(names(yield* store.page(room, null, 10)), [["ada"], 1])
          const [bobTab1, bobTab2] = [conn(), conn()]
          yield* store.join(room, { connId: bobTab1, ...bob })
          assert.deepStrictEqual(names(yield* store.page(room, null, 10)), [["ada", "bob"], 2])
          // Another limit is another page.
          assert.deepStrictEqual(names(yield* store.page(room, null, 1)), [["ada"], 2])
          yield* store.join(room, { connId: bobTab2, ...bob })
          yield* store.leave(room, bobTab1)
          assert.deepStrictEqual(names(yield* store.page(room, null, 10)), [["ada", "bob"], 2])
          yield* store.leave(room, bobTab2)
          assert.deepStrictEqual(names(yield* store.page(room, null, 10)), [["ada"], 1])
          yield* store.leave(room, adaTab)
          assert.deepStrictEqual(names(yield* store.page(room, null, 10)), [[], 0])
        })
      )

      it.effect("a page whose last user is the room's last says so (no cursor)", () =>
        Effect.gen(function* () {
          const store = yield* makeStore
          const room = newRoom()
          for (const name of ["a1", "a2", "a3", "a4"]) yield* store.join(room, { connId: conn(), ...user(name) })
          const full = yield* store.page(room, null, 4)
          assert.strictEqual(full.users.length, 4)
          assert.strictEqual(full.next, null)
          const first = yield* store.page(room, null, 3)
          assert.strictEqual(first.next, userKey(first.users[2]!.user_id, "a3"))
          const empty = yield* store.page(newRoom(), null, 3)
          assert.deepStrictEqual(empty, { users: [], count: 0, next: null })
        })
      )

      it.effect("a cursor stays valid while users come and go: the page starts after it", () =>
        Effect.gen(function* () {
          const store = yield* makeStore
          const room = newRoom()
          const conns = new Map<string, string>()
          for (const name of ["b1", "b2", "b3", "b4", "b5"]) {
            const id = conn()
            conns.set(name, id)
            yield* store.join(room, { connId: id, ...user(name) })
          }
          const first = yield* store.page(room, null, 2)
          // The cursor's own user leaves, and someone joins before it: neither moves the page.
          yield* store.leave(room, conns.get("b2")!)
          yield* store.join(room, { connId: conn(), ...user("b0") })
          const second = yield* store.page(room, first.next, 2)
          assert.deepStrictEqual(
            second.users.map((u) => u.username),
            ["b3", "b4"]
          )
        })
      )
    })

    it.effect("state says which users are online now, and the count", () =>
      Effect.gen(function* () {
        const store = yield* makeStore
        const room = newRoom()
        const [on, off] = [user("on"), user("off")]
        const offConn = conn()
        yield* store.join(room, { connId: conn(), ...on })
        yield* store.join(room, { connId: offConn, ...off })
        yield* store.leave(room, offConn)
        const state = yield* store.state(room, [userKey(on.userId, "on"), userKey(off.userId, "off")])
        assert.deepStrictEqual(state, { count: 1, online: [true, false] })
      })
    )
  })
