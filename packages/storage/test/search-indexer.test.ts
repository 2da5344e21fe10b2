/**
 * The search-word writer's one-write-per-room rule (`cassandra/search-indexer.ts`), on a stand-in
 * client that holds each write until released: a rollover's write never runs beside a
 * background write of the same room, which could let `terms_through` pass rows whose words
 * were not written yet.
 */
import { assert, describe, it } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock, type RoomId } from "@parley/domain"
import { Deferred, Effect, Fiber, Option, Queue } from "effect"
import type { CassandraClient } from "../src/cassandra/client.ts"
import type { Live } from "../src/cassandra/room-head-store.ts"
import { searchIndexer } from "../src/cassandra/search-indexer.ts"
import { newMessage, newRoom, newUserId } from "./fixtures.ts"

describe("search words written after the ack: one write at a time per room", () => {
  it.live("a rollover's write waits for a background write built before the room's lock was dropped", () =>
    Effect.gen(function* () {
      const roomId: RoomId = newRoom(newUserId()).id
      const clock = makeTimeUuidClock()
      const rows = (n: number) =>
        Array.from({ length: n }, (_, i) => ({ ...newMessage(roomId, i + 1), id: clock.next(Date.now()) as MessageId }))
      // Each write announces itself and waits for its own release.
      const started = yield* Queue.unbounded<Deferred.Deferred<void>>()
      let writing = 0
      let most = 0
      const db = {
        batchUnguarded: () =>
          Effect.gen(function* () {
            const release = yield* Deferred.make<void>()
            writing++
            most = Math.max(most, writing)
            yield* Queue.offer(started, release)
            yield* Deferred.await(release)
            writing--
            return { rows: [], wasApplied: () => true }
          })
      } as unknown as CassandraClient["Service"]
      const live: Live = {
        epoch: 1,
        where: { root: false, bucket: 0 },
        base: 0,
        lastMs: 0,
        lastSeq: 0,
        leaseUntil: Date.now() + 60_000,
        floor: 0,
        lastPlain: 0,
        wordsLater: true
      }
      const background: Array<Fiber.Fiber<void>> = []
      const indexer = searchIndexer(
        db,
        { lives: new Map([[roomId, live]]) },
        (effect) => background.push(Effect.runFork(effect)),
        50
      )

      indexer.add(roomId, 1, 0, rows(2))
      // A rollover writes them before the window is over, and the room's lock is dropped after.
      const first = yield* Effect.forkChild(indexer.flush(roomId))
      yield* Deferred.succeed(yield* Queue.take(started), undefined)
      yield* Fiber.join(first)
      // The background write wakes and takes the next rows; while it is held, more come and a
      // rollover writes them.
      indexer.add(roomId, 1, 0, rows(2))
      const held = yield* Queue.take(started)
      indexer.add(roomId, 1, 0, rows(2))
      const second = yield* Effect.forkChild(indexer.flush(roomId))
      // No second write starts while the first is held (it would at once).
      assert.isTrue(Option.isNone(yield* Queue.take(started).pipe(Effect.timeoutOption("200 millis"))))
      assert.strictEqual(most, 1)
      yield* Deferred.succeed(held, undefined)
      yield* Deferred.succeed(yield* Queue.take(started), undefined)
      yield* Fiber.join(second)
      assert.strictEqual(most, 1)
      yield* Effect.forEach(background, Fiber.interrupt)
    })
  )
})
