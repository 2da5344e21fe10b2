/**
 * The reads a WebSocket upgrade into a room makes on SQLite, as the server makes them (the
 * worker layer, whose point reads run on this thread): the user with the session its token
 * names, then the room with the user's membership. Joined, two statements
 * (`Users.findWithSession`, `Rooms.getWithMembership`); next to them, as before, the four
 * single-table reads two at a time (`findById` ‖ `Sessions.get`, then `Rooms.get` ‖
 * `membership`). Rounds alternate, so that both see the same machine. A hot loop: in a
 * server, between requests, each statement costs more (BENCHMARKS.md).
 *
 *   node apps/server/bench/sqlite-point-reads.ts [reads per round, default 20000]
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeTimeUuidClock, type RoomId, type SessionId, type UserId } from "@parley/domain"
import { Rooms, Sessions, SqliteStorage, Users } from "@parley/storage"
import { Effect, Option } from "effect"

const perRound = Number(process.argv[2] ?? 20_000)
const rounds = 4
const dir = mkdtempSync(join(tmpdir(), "parley-point-reads-"))

const program = Effect.gen(function* () {
  const users = yield* Users
  const sessions = yield* Sessions
  const rooms = yield* Rooms
  const now = Date.now()
  const userId = crypto.randomUUID() as UserId
  const user = yield* users.create({
    id: userId,
    username: "reader",
    email: "reader@example.com",
    passwordHash: "not-a-hash",
    role: "user",
    disabled: false,
    createdAt: now,
    updatedAt: now
  })
  const sessionId = crypto.randomUUID() as SessionId
  yield* sessions.create({
    id: sessionId,
    userId,
    currentHash: "0".repeat(64),
    createdAt: now,
    lastUsedAt: now,
    expiresAt: now + 3_600_000,
    revoked: false,
    userAgent: null,
    ip: null
  })
  const roomId = makeTimeUuidClock().next(now) as RoomId
  yield* rooms.create({
    id: roomId,
    name: "reads",
    visibility: "public",
    createdBy: user.id,
    createdAt: now,
    archived: false
  })

  const separate = Effect.gen(function* () {
    const [found, session] = yield* Effect.all([users.findById(userId), sessions.get(sessionId)], { concurrency: 2 })
    const [room, member] = yield* Effect.all([rooms.get(roomId), rooms.membership(roomId, userId)], { concurrency: 2 })
    return Option.isSome(found) && Option.isSome(session) && Option.isSome(room) && Option.isSome(member)
  })
  const joined = Effect.gen(function* () {
    const withSession = yield* users.findWithSession(userId, sessionId)
    const withMembership = yield* rooms.getWithMembership(roomId, userId)
    return Option.isSome(withSession) && Option.isSome(withMembership)
  })
  const paths = [
    ["four reads, two at a time", separate],
    ["two joined reads", joined]
  ] as const
  const samples = new Map<string, Array<number>>(paths.map(([name]) => [name, []]))
  for (let round = 0; round <= rounds; round++) {
    for (const [name, reads] of paths) {
      const started = performance.now()
      for (let i = 0; i < perRound; i++) {
        if (!(yield* reads)) return yield* Effect.die(new Error(`${name}: a read found nothing`))
      }
      // Round 0 warms up and is not recorded.
      if (round > 0) samples.get(name)!.push(((performance.now() - started) * 1000) / perRound)
    }
  }
  for (const [name, us] of samples) {
    const sorted = [...us].sort((a, b) => a - b)
    console.log(
      `${name.padEnd(26)} ${sorted.map((u) => u.toFixed(1)).join(" ")} µs per upgrade (median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)})`
    )
  }
})

try {
  await Effect.runPromise(program.pipe(Effect.provide(SqliteStorage.layerWorker(join(dir, "parley.db")))))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
