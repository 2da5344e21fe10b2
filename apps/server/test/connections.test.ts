/**
 * The registry of open sockets: a revocation closes exactly the sockets it names, and a
 * socket whose authentication began before a revocation it missed (it was still upgrading)
 * is closed the moment it registers. Time is the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { ReadMarker, type RoomId, type SessionId, type UserId } from "@parley/domain"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Revocations } from "../src/realtime/revocations.ts"
import { Connections } from "../src/ws/connections.ts"

const alice = "00000000-0000-4000-8000-00000000000a" as UserId
const bob = "00000000-0000-4000-8000-00000000000b" as UserId
const session = (n: number) => `00000000-0000-4000-8000-0000000000${String(n).padStart(2, "0")}` as SessionId

const services = Connections.layer.pipe(Layer.provideMerge(Revocations.layerMemory))

/** Registers a fake socket; `revoked()` tells how often it was revoked, `changed` which rooms' posting news it heard. */
const open = (userId: UserId, sessionId: SessionId, authenticatedAt: number) =>
  Effect.gen(function* () {
    const connections = yield* Connections
    let revoked = 0
    const changed: Array<RoomId> = []
    const markers: Array<{ readonly seq: number; readonly origin: string | null }> = []
    const connection = {
      userId,
      sessionId,
      authenticatedAt,
      revoke: () => revoked++,
      postingChanged: (roomId: RoomId) => void changed.push(roomId),
      readMarkerMoved: (marker: ReadMarker, origin: string | null) => void markers.push({ seq: marker.seq, origin })
    }
    yield* connections.add(connection)
    return { remove: () => connections.remove(connection), revoked: () => revoked, changed, markers }
  })

const room = "a0000000-0000-1000-8000-000000000001" as RoomId

describe("Connections", () => {
  it.effect("a session revocation closes that session's sockets only; a user revocation all of the user's", () =>
    Effect.gen(function* () {
      const revocations = yield* Revocations
      const connections = yield* Connections
      const a1 = yield* open(alice, session(1), 0)
      const a1again = yield* open(alice, session(1), 0)
      const a2 = yield* open(alice, session(2), 0)
      const b3 = yield* open(bob, session(3), 0)
      assert.strictEqual(yield* connections.count, 4)

      yield* TestClock.adjust("1 second")
      yield* revocations.publish({ kind: "session", session_id: session(1) })
      assert.deepStrictEqual([a1.revoked(), a1again.revoked(), a2.revoked(), b3.revoked()], [1, 1, 0, 0])

      yield* revocations.publish({ kind: "user", user_id: alice })
      assert.deepStrictEqual([a2.revoked(), b3.revoked()], [1, 0])

      // A socket that closed is forgotten: later revocations do not reach it.
      b3.remove()
      assert.strictEqual(yield* connections.count, 3)
      yield* revocations.publish({ kind: "user", user_id: bob })
      assert.strictEqual(b3.revoked(), 0)
    }).pipe(Effect.provide(services))
  )

  it.effect(
    "posting news reaches every socket for a room change, the user's sockets for a membership change, and closes none",
    () =>
      Effect.gen(function* () {
        const revocations = yield* Revocations
        const a1 = yield* open(alice, session(1), 0)
        const a2 = yield* open(alice, session(2), 0)
        const b3 = yield* open(bob, session(3), 0)

        yield* revocations.publish({ kind: "membership", room_id: room, user_id: alice })
        assert.deepStrictEqual([a1.changed, a2.changed, b3.changed], [[room], [room], []])

        yield* revocations.publish({ kind: "room", room_id: room })
        assert.deepStrictEqual([a1.changed.length, a2.changed.length, b3.changed], [2, 2, [room]])
        assert.deepStrictEqual([a1.revoked(), a2.revoked(), b3.revoked()], [0, 0, 0])
      }).pipe(Effect.provide(services))
  )

  it.effect(
    "a moved read marker reaches every socket of its user (each told where it came from), and no one else's",
    () =>
      Effect.gen(function* () {
        const revocations = yield* Revocations
        const a1 = yield* open(alice, session(1), 0)
        const a2 = yield* open(alice, session(2), 0)
        const b3 = yield* open(bob, session(3), 0)
        const marker = new ReadMarker({ room_id: room, seq: 7, unread: 2 })
        yield* revocations.publish({ kind: "read_marker", user_id: alice, origin: "conn-1", marker })
        const heard = { seq: 7, origin: "conn-1" }
        assert.deepStrictEqual([a1.markers, a2.markers, b3.markers], [[heard], [heard], []])
        assert.deepStrictEqual([a1.revoked(), a2.revoked(), a1.changed], [0, 0, []])
      }).pipe(Effect.provide(services))
  )

  it.effect("a socket authenticated before a revocation it registers after is closed at once; a later one is not", () =>
    Effect.gen(function* () {
      const revocations = yield* Revocations
      yield* TestClock.setTime(10_000)
      yield* revocations.publish({ kind: "session", session_id: session(1) })
      yield* revocations.publish({ kind: "user", user_id: bob })

      // Its storage read began before the revocation was heard: it may have missed it.
      assert.strictEqual((yield* open(alice, session(1), 9_999)).revoked(), 1)
      assert.strictEqual((yield* open(bob, session(3), 10_000)).revoked(), 1)
      // Its read began afterwards, so it saw the revocation in storage and passed: a new login.
      assert.strictEqual((yield* open(alice, session(1), 10_001)).revoked(), 0)
      assert.strictEqual((yield* open(bob, session(4), 10_001)).revoked(), 0)
      assert.strictEqual((yield* open(alice, session(2), 0)).revoked(), 0)

      // Remembered for a while only: an upgrade that takes minutes is left to the periodic re-check.
      yield* TestClock.adjust("10 minutes")
      yield* revocations.publish({ kind: "session", session_id: session(9) })
      assert.strictEqual((yield* open(alice, session(1), 9_999)).revoked(), 0)
    }).pipe(Effect.provide(services))
  )
})
