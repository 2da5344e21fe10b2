/**
 * Typing: start and stop share one throttle per user and room, the final state is never lost,
 * changes are coalesced per room, and leaving ends typing (when it is the connection that typed
 * last). Memory broker, TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import type { RoomId, UserId } from "@parley/domain"
import { Duration, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Broker, type RoomEvent } from "../src/realtime/broker.ts"
import { Typing } from "../src/realtime/typing.ts"

const window = Duration.millis(100)
const interval = Duration.seconds(2)
const world = Typing.layer({ window, interval }).pipe(Layer.provideMerge(Broker.layerMemory))

const setup = Effect.gen(function* () {
  const typing = yield* Typing
  const broker = yield* Broker
  const roomId = crypto.randomUUID() as RoomId
  const published: Array<RoomEvent> = []
  yield* broker.subscribe(roomId, (event) => void published.push(event))
  const user = (username: string) => ({ user_id: crypto.randomUUID() as UserId, username })
  /** What went out, as [username, typing] per change. */
  const changes = () =>
    published.flatMap((e) =>
      e.kind === "typing.changes"
        ? [...e.started.map((u) => [u.username, true] as const), ...e.stopped.map((u) => [u.username, false] as const)]
        : []
    )
  return { typing, roomId, published, user, changes }
})

describe("typing", () => {
  it.effect("280 stop/start pairs inside one interval pass as one frame", () =>
    Effect.gen(function* () {
      const { typing, roomId, published, user, changes } = yield* setup
      const ada = user("ada")
      yield* typing.set(roomId, ada, true, "tab")
      for (let i = 0; i < 280; i++) {
        yield* typing.set(roomId, ada, false, "tab")
        yield* typing.set(roomId, ada, true, "tab")
        yield* TestClock.adjust(Duration.millis(5))
      }
      // 1.4 s later: one start went out, nothing else.
      assert.deepStrictEqual(changes(), [["ada", true]])
      assert.strictEqual(published.length, 1)
      // Ending typing, still inside the interval: the stop waits for the interval's end, then goes out.
      yield* typing.set(roomId, ada, false, "tab")
      yield* TestClock.adjust(Duration.millis(500))
      assert.deepStrictEqual(changes(), [["ada", true]])
      yield* TestClock.adjust(Duration.millis(200))
      assert.deepStrictEqual(changes(), [
        ["ada", true],
        ["ada", false]
      ])
    }).pipe(Effect.provide(world))
  )

  it.effect("a stop right after a start is throttled like a start: it goes out when the interval ends", () =>
    Effect.gen(function* () {
      const { typing, roomId, user, changes } = yield* setup
      const ada = user("ada")
      yield* typing.set(roomId, ada, true, "tab")
      yield* TestClock.adjust(window)
      yield* typing.set(roomId, ada, false, "tab")
      yield* typing.set(roomId, ada, true, "tab")
      yield* typing.set(roomId, ada, false, "tab")
      yield* TestClock.adjust(Duration.millis(1800))
      assert.deepStrictEqual(changes(), [["ada", true]])
      yield* TestClock.adjust(Duration.millis(200))
      assert.deepStrictEqual(changes(), [
        ["ada", true],
        ["ada", false]
      ])
      // And a start right after that stop waits for the stop's interval in turn.
      yield* typing.set(roomId, ada, true, "tab")
      yield* TestClock.adjust(Duration.millis(1000))
      assert.strictEqual(changes().length, 2)
      yield* TestClock.adjust(Duration.millis(1200))
      assert.deepStrictEqual(changes().at(-1), ["ada", true])
    }).pipe(Effect.provide(world))
  )

  it.effect("ending in the state that went out sends nothing more", () =>
    Effect.gen(function* () {
      const { typing, roomId, user, changes } = yield* setup
      const ada = user("ada")
      yield* typing.set(roomId, ada, true, "tab")
      yield* typing.set(roomId, ada, false, "tab")
      yield* typing.set(roomId, ada, true, "tab")
      yield* TestClock.adjust(Duration.seconds(5))
      assert.deepStrictEqual(changes(), [["ada", true]])
    }).pipe(Effect.provide(world))
  )

  it.effect(
    "a start repeated after the interval refreshes the indicator; a stop from someone not typing is silent",
    () =>
      Effect.gen(function* () {
        const { typing, roomId, user, changes } = yield* setup
        const [ada, bob] = [user("ada"), user("bob")]
        yield* typing.set(roomId, bob, false, "tab")
        yield* typing.set(roomId, ada, true, "tab")
        yield* TestClock.adjust(Duration.seconds(3))
        yield* typing.set(roomId, ada, true, "tab")
        yield* TestClock.adjust(window)
        assert.deepStrictEqual(changes(), [
          ["ada", true],
          ["ada", true]
        ])
      }).pipe(Effect.provide(world))
  )

  it.effect("changes of several users in one window go out as one event", () =>
    Effect.gen(function* () {
      const { typing, roomId, published, user } = yield* setup
      const [ada, bob, cyd] = [user("ada"), user("bob"), user("cyd")]
      yield* typing.set(roomId, ada, true, "tab")
      yield* typing.set(roomId, bob, true, "tab")
      yield* typing.set(roomId, cyd, true, "tab")
      yield* TestClock.adjust(Duration.seconds(3))
      published.length = 0
      yield* typing.set(roomId, ada, true, "tab")
      yield* typing.set(roomId, bob, false, "tab")
      yield* TestClock.adjust(window)
      assert.deepStrictEqual(published, [{ kind: "typing.changes", started: [ada], stopped: [bob] }])
    }).pipe(Effect.provide(world))
  )

  it.effect(
    "leaving while typing stops at the next window, past the throttle; leaving when not typing says nothing",
    () =>
      Effect.gen(function* () {
        const { typing, roomId, user, changes } = yield* setup
        const [ada, bob] = [user("ada"), user("bob")]
        yield* typing.set(roomId, ada, true, "tab")
        yield* TestClock.adjust(window)
        yield* typing.leave(roomId, ada.user_id, "tab")
        yield* typing.leave(roomId, bob.user_id, "tab")
        yield* TestClock.adjust(window)
        assert.deepStrictEqual(changes(), [
          ["ada", true],
          ["ada", false]
        ])
        // Nothing left behind: no late stop when the interval ends.
        yield* TestClock.adjust(Duration.seconds(3))
        assert.strictEqual(changes().length, 2)
      }).pipe(Effect.provide(world))
  )

  it.effect("another tab of the same user leaving does not stop typing; the tab that typed last leaving does", () =>
    Effect.gen(function* () {
      const { typing, roomId, user, changes } = yield* setup
      const ada = user("ada")
      yield* typing.set(roomId, ada, true, "tab-1")
      yield* typing.set(roomId, ada, false, "tab-2")
      yield* typing.set(roomId, ada, true, "tab-3")
      yield* TestClock.adjust(window)
      // Tabs that typed before, or never, close: tab-3 is still typing.
      yield* typing.leave(roomId, ada.user_id, "tab-1")
      yield* typing.leave(roomId, ada.user_id, "tab-2")
      yield* typing.leave(roomId, ada.user_id, "tab-4")
      yield* TestClock.adjust(window)
      assert.deepStrictEqual(changes(), [["ada", true]])
      yield* typing.leave(roomId, ada.user_id, "tab-3")
      yield* TestClock.adjust(window)
      assert.deepStrictEqual(changes(), [
        ["ada", true],
        ["ada", false]
      ])
    }).pipe(Effect.provide(world))
  )
})
