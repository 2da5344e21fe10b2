/**
 * One behavioural contract for every storage backend. Each backend's test file calls
 * `conformance` with its layer; a backend passes only if it behaves exactly like the others.
 */
import { assert, describe, layer } from "@effect/vitest"
import type { SessionId, UserId } from "@parley/domain"
import { Effect, Exit, type Layer, Option } from "effect"
import {
  type AuditLog,
  type MessageSearch,
  type Messages,
  type Rooms,
  type SessionRecord,
  Sessions,
  StorageHealth,
  type StorageStats,
  type UserRecord,
  Users
} from "../src/index.ts"
import { adminConformance } from "./conformance-admin.ts"
import { directRoomsConformance } from "./conformance-direct-rooms.ts"
import { editsConformance } from "./conformance-edits.ts"
import { messagesConformance } from "./conformance-messages.ts"
import { readMarkersConformance } from "./conformance-read-markers.ts"
import { roomAdminConformance } from "./conformance-room-admin.ts"
import { roomsConformance } from "./conformance-rooms.ts"
import { searchConformance } from "./conformance-search.ts"
import { newUser, unique } from "./fixtures.ts"

const newSession = (userId: UserId, hash: string, now = Date.now()): SessionRecord => ({
  id: crypto.randomUUID() as SessionId,
  userId,
  currentHash: hash,
  createdAt: now,
  lastUsedAt: now,
  expiresAt: now + 3_600_000,
  revoked: false,
  userAgent: "vitest",
  ip: "127.0.0.1"
})

const hash = () => crypto.randomUUID().replaceAll("-", "").padEnd(64, "0")

export type Services = Users | Sessions | Rooms | Messages | MessageSearch | AuditLog | StorageStats | StorageHealth

export const conformance = <E>(backend: string, storage: Layer.Layer<Services, E>, options?: { timeout?: number }) =>
  layer(storage, { timeout: options?.timeout ?? 120_000 })(`storage conformance: ${backend}`, (it) => {
    it.effect("answers a health check", () => Effect.flatMap(StorageHealth, (h) => h.check))

    describe("users", () => {
      it.effect("creates a user and finds it by id, username and email regardless of case", () =>
        Effect.gen(function* () {
          const users = yield* Users
          const name = unique("Alice_")
          const user = yield* users.create(newUser(name, `${name}@Example.com`))
          assert.deepStrictEqual(yield* users.findById(user.id), Option.some(user))
          assert.deepStrictEqual(yield* users.findByUsername(name.toUpperCase()), Option.some(user))
          assert.deepStrictEqual(yield* users.findByEmail(` ${name.toLowerCase()}@example.COM `), Option.some(user))
          assert.isTrue(Option.isNone(yield* users.findByUsername(unique("nobody_"))))
          assert.isTrue(Option.isNone(yield* users.findById(crypto.randomUUID() as UserId)))
        })
      )

      it.effect("rejects a taken username and a registered email, keeping nothing of the loser", () =>
        Effect.gen(function* () {
          const users = yield* Users
          const name = unique("bob_")
          const email = `${name}@example.com`
          yield* users.create(newUser(name, email))
          const otherEmail = `${unique("b")}@example.com`
          const taken = yield* Effect.flip(users.create(newUser(name.toUpperCase(), otherEmail)))
          assert.strictEqual(taken._tag, "UsernameTaken")
          const otherName = unique("carol_")
          const registered = yield* Effect.flip(users.create(newUser(otherName, email.toUpperCase())))
          assert.strictEqual(registered._tag, "EmailRegistered")
          // The losers' own reservations were rolled back, so both are free again.
          const fresh = yield* users.create(newUser(otherName, otherEmail))
          assert.deepStrictEqual(yield* users.findByUsername(otherName), Option.some(fresh))
        })
      )

      it.effect("50 concurrent signups for one username: exactly one wins, no orphaned email", () =>
        Effect.gen(function* () {
          const users = yield* Users
          const name = unique("race_")
          const emails = Array.from({ length: 50 }, (_, i) => `${name}.${i}@example.com`)
          const results = yield* Effect.forEach(emails, (email) => Effect.exit(users.create(newUser(name, email))), {
            concurrency: "unbounded"
          })
          const winners = results.filter(Exit.isSuccess)
          assert.strictEqual(winners.length, 1)
          for (const exit of results) {
            if (Exit.isFailure(exit)) assert.include(String(exit.cause), "UsernameTaken")
          }
          const winner = (winners[0] as Exit.Success<UserRecord>).value
          assert.deepStrictEqual(yield* users.findByUsername(name), Option.some(winner))
          // Every losing email is free: none of their reservations outlived the failed signup.
          for (const email of emails) {
            if (email === winner.email) continue
            assert.isTrue(Option.isNone(yield* users.findByEmail(email)))
            yield* users.create(newUser(unique("after_"), email))
          }
        })
      )

      it.effect("50 concurrent signups for one email: exactly one wins, no orphaned username", () =>
        Effect.gen(function* () {
          const users = yield* Users
          const email = `${unique("same")}@example.com`
          const names = Array.from({ length: 50 }, (_, i) => unique(`r${i}_`))
          const results = yield* Effect.forEach(names, (name) => Effect.exit(users.create(newUser(name, email))), {
            concurrency: "unbounded"
          })
          const winners = results.filter(Exit.isSuccess)
          assert.strictEqual(winners.length, 1)
          for (const exit of results) {
            if (Exit.isFailure(exit)) assert.include(String(exit.cause), "EmailRegistered")
          }
          const winner = (winners[0] as Exit.Success<UserRecord>).value
          for (const name of names) {
            if (name === winner.username) continue
            assert.isTrue(Option.isNone(yield* users.findByUsername(name)))
            yield* users.create(newUser(name, `${unique("free")}@example.com`))
          }
        })
      )

      it.effect("updates role, disabled and password hash, and reports unknown users", () =>
        Effect.gen(function* () {
          const users = yield* Users
          const name = unique("dave_")
          const user = yield* users.create(newUser(name, `${name}@example.com`))
          assert.isTrue(yield* users.update(user.id, { disabled: true }, user.createdAt + 1000))
          assert.isTrue(yield* users.update(user.id, { role: "admin" }, user.createdAt + 2000))
          assert.isTrue(yield* users.update(user.id, { passwordHash: "rehashed" }, user.createdAt + 3000))
          const updated = Option.getOrThrow(yield* users.findById(user.id))
          assert.strictEqual(updated.disabled, true)
          assert.strictEqual(updated.role, "admin")
          assert.strictEqual(updated.passwordHash, "rehashed")
          assert.strictEqual(updated.updatedAt, user.createdAt + 3000)
          assert.isFalse(yield* users.update(crypto.randomUUID() as UserId, { disabled: true }, Date.now()))
        })
      )

      it.effect("a disable racing a role change loses neither", () =>
        Effect.gen(function* () {
          const users = yield* Users
          // Many users, each with one disable and one role change in flight together: an
          // update that wrote back the columns it did not change would undo the other.
          const created = yield* Effect.forEach(
            Array.from({ length: 40 }, () => unique("racer_")),
            (name) => users.create(newUser(name, `${name}@example.com`)),
            { concurrency: 8 }
          )
          yield* Effect.forEach(
            created.flatMap((user) => [
              users.update(user.id, { disabled: true }, user.createdAt + 1),
              users.update(user.id, { role: "admin" }, user.createdAt + 1)
            ]),
            (update) => Effect.map(update, (found) => assert.isTrue(found)),
            { concurrency: "unbounded", discard: true }
          )
          for (const user of created) {
            const stored = Option.getOrThrow(yield* users.findById(user.id))
            assert.deepStrictEqual([stored.disabled, stored.role], [true, "admin"], user.username)
          }
        })
      )
    })

    describe("sessions", () => {
      const withUser = Effect.gen(function* () {
        const name = unique("sess_")
        return yield* Effect.flatMap(Users, (users) => users.create(newUser(name, `${name}@example.com`)))
      })

      it.effect("creates, finds by token hash, rotates once, and lists newest first", () =>
        Effect.gen(function* () {
          const sessions = yield* Sessions
          const user = yield* withUser
          const first = newSession(user.id, hash(), Date.now() - 1000)
          const second = newSession(user.id, hash())
          yield* sessions.create(first)
          yield* sessions.create(second)
          assert.deepStrictEqual(yield* sessions.get(first.id), Option.some(first))
          assert.deepStrictEqual(
            yield* sessions.findByTokenHash(first.currentHash),
            Option.some({ sessionId: first.id, userId: user.id })
          )
          assert.isTrue(Option.isNone(yield* sessions.findByTokenHash(hash())))

          const next = hash()
          const now = first.createdAt + 500
          assert.isTrue(yield* sessions.rotate({ session: first, fromHash: first.currentHash, toHash: next, now }))
          const rotated = Option.getOrThrow(yield* sessions.get(first.id))
          assert.strictEqual(rotated.currentHash, next)
          assert.strictEqual(rotated.lastUsedAt, now)
          // What a retry within the grace window is judged by: the hash replaced, and when.
          assert.deepStrictEqual(rotated.rotation, { previousHash: first.currentHash, at: now })
          // The old hash still names its session, so a replay can be recognised.
          assert.deepStrictEqual(
            yield* sessions.findByTokenHash(first.currentHash),
            Option.some({ sessionId: first.id, userId: user.id })
          )
          assert.isFalse(yield* sessions.rotate({ session: first, fromHash: first.currentHash, toHash: hash(), now }))

          const listed = yield* sessions.listByUser(user.id)
          assert.deepStrictEqual(
            listed.map((s) => s.id),
            [second.id, first.id]
          )
        })
      )

      it.effect("reads a user with one of their sessions: current, rotated, revoked, another's, none, no user", () =>
        Effect.gen(function* () {
          const sessions = yield* Sessions
          const users = yield* Users
          const user = yield* withUser
          const other = yield* withUser
          const mine = newSession(user.id, hash())
          const theirs = newSession(other.id, hash())
          yield* sessions.create(mine)
          yield* sessions.create(theirs)
          const read = (id: UserId, sessionId: SessionId) =>
            Effect.map(
              users.findWithSession(id, sessionId),
              Option.map(({ user, session }) => ({ user, session }))
            )
          assert.deepStrictEqual(yield* read(user.id, mine.id), Option.some({ user, session: Option.some(mine) }))
          // Another user's session, or none at all, reads as no session of this user.
          assert.deepStrictEqual(yield* read(user.id, theirs.id), Option.some({ user, session: Option.none() }))
          assert.deepStrictEqual(
            yield* read(user.id, crypto.randomUUID() as SessionId),
            Option.some({ user, session: Option.none() })
          )
          assert.isTrue(Option.isNone(yield* read(crypto.randomUUID() as UserId, mine.id)))

          // What it reads is what `get` reads, after a rotation and a revocation too.
          const now = mine.createdAt + 500
          assert.isTrue(yield* sessions.rotate({ session: mine, fromHash: mine.currentHash, toHash: hash(), now }))
          assert.deepStrictEqual(
            yield* read(user.id, mine.id),
            Option.some({ user, session: yield* sessions.get(mine.id) })
          )
          yield* sessions.revoke(mine.id)
          const revoked = Option.getOrThrow(yield* read(user.id, mine.id)).session
          assert.isTrue(Option.getOrThrow(revoked).revoked)
          assert.deepStrictEqual(revoked, yield* sessions.get(mine.id))
          // A disabled user is still read, as disabled (the caller refuses it).
          assert.isTrue(yield* users.update(user.id, { disabled: true }, now))
          assert.isTrue(Option.getOrThrow(yield* read(user.id, mine.id)).user.disabled)
        })
      )

      it.effect("of 20 concurrent rotations of one token exactly one succeeds", () =>
        Effect.gen(function* () {
          const sessions = yield* Sessions
          const user = yield* withUser
          const session = newSession(user.id, hash())
          yield* sessions.create(session)
          const successors = Array.from({ length: 20 }, hash)
          const results = yield* Effect.forEach(
            successors,
            (toHash) => sessions.rotate({ session, fromHash: session.currentHash, toHash, now: Date.now() }),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter(Boolean).length, 1)
          const current = Option.getOrThrow(yield* sessions.get(session.id)).currentHash
          assert.strictEqual(current, successors[results.indexOf(true)])
        })
      )

      it.effect("a revoked session cannot rotate", () =>
        Effect.gen(function* () {
          const sessions = yield* Sessions
          const user = yield* withUser
          const session = newSession(user.id, hash())
          yield* sessions.create(session)
          yield* sessions.revoke(session.id)
          assert.isTrue(Option.getOrThrow(yield* sessions.get(session.id)).revoked)
          assert.isFalse(
            yield* sessions.rotate({ session, fromHash: session.currentHash, toHash: hash(), now: Date.now() })
          )
          yield* sessions.revoke(crypto.randomUUID() as SessionId)
        })
      )
    })

    roomsConformance(it)
    directRoomsConformance(it)
    readMarkersConformance(it)
    messagesConformance(it)
    editsConformance(it)
    searchConformance(it)
    roomAdminConformance(it)
    adminConformance(it)
  })
