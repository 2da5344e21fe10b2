/**
 * Accounts on SQLite in memory, with a password check a test can interleave work into: a
 * disable that lands while a login checks the password must not let that login's session
 * survive (it would come back to life on `enable`). Time is the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { LoginRequest, type SessionId, SignupRequest } from "@parley/domain"
import { Sessions, SqliteStorage, Users } from "@parley/storage"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { AccessTokens } from "../src/auth/access-tokens.ts"
import { Accounts } from "../src/auth/accounts.ts"
import { PasswordHasher } from "../src/auth/passwords.ts"
import { Revocations } from "../src/realtime/revocations.ts"

/** Whatever a test puts here runs inside every password check, before it answers. */
const duringPasswordCheck = { run: Effect.void as Effect.Effect<void> }

/** Plain-text "hashes": argon2 is not what these tests are about. */
const TestHasher = Layer.succeed(PasswordHasher)(
  PasswordHasher.of({
    hash: (password) => Effect.succeed(`plain:${password}`),
    verify: (hash, password) =>
      Effect.andThen(
        Effect.suspend(() => duringPasswordCheck.run),
        Effect.sync(() => hash === `plain:${password}`)
      ),
    verifyDummy: () => Effect.succeed(false)
  })
)

const services = () =>
  Accounts.layer({ idle: Duration.days(7), absolute: Duration.days(30) }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        SqliteStorage.layer(":memory:"),
        TestHasher,
        Revocations.layerMemory,
        AccessTokens.layer({
          secret: Redacted.make("test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"),
          previousSecret: Option.none(),
          issuer: "parley",
          audience: "parley",
          ttl: Duration.minutes(15)
        })
      )
    )
  )

const signup = Effect.fnUntraced(function* (username: string) {
  const accounts = yield* Accounts
  return yield* accounts.signup(new SignupRequest({ username, email: `${username}@example.com`, password: "secret12" }))
})
const loginAs = Effect.fnUntraced(function* (username: string) {
  const accounts = yield* Accounts
  const request = new LoginRequest({ email_or_username: username, password: "secret12" })
  return yield* accounts.login(request, { ip: null, userAgent: null })
})

describe("Accounts", () => {
  it.effect("a disable that lands during a login's password check refuses it, and enabling revives no session", () =>
    Effect.gen(function* () {
      const accounts = yield* Accounts
      const users = yield* Users
      const sessions = yield* Sessions
      const user = yield* signup("racer")
      // The disable runs to the end, `endAllSessions` included, while the login is past its
      // first read of the account but has not created its session yet.
      duringPasswordCheck.run = Effect.gen(function* () {
        duringPasswordCheck.run = Effect.void
        yield* users.update(user.id, { disabled: true }, 0)
        yield* accounts.endAllSessions(user.id)
      }).pipe(Effect.orDie)

      const refused = yield* Effect.flip(loginAs("racer"))
      assert.strictEqual(refused._tag, "Forbidden")
      if (refused._tag === "Forbidden") assert.strictEqual(refused.error.message, "this account is disabled")

      yield* users.update(user.id, { disabled: false }, 0)
      // The session it created is ended, not waiting for the account to come back.
      const stored = yield* sessions.listByUser(user.id)
      assert.strictEqual(stored.length, 1)
      assert.isTrue(stored[0]!.revoked)
      assert.deepStrictEqual(yield* accounts.sessionsOf(user.id), [])
      // Enabled again, the account logs in as usual.
      const again = yield* loginAs("racer")
      assert.strictEqual(again.user.id, user.id)
    }).pipe(Effect.provide(services()))
  )

  it.effect("sessionOf finds a user's own live session only; endSession ends it", () =>
    Effect.gen(function* () {
      const accounts = yield* Accounts
      const alice = yield* signup("alice")
      const bob = yield* signup("bob")
      const a = yield* loginAs("alice")
      const b = yield* loginAs("bob")

      assert.strictEqual((yield* accounts.sessionOf(alice.id, a.session_id)).id, a.session_id)
      // Someone else's session, or none at all, is "not found".
      assert.strictEqual((yield* Effect.flip(accounts.sessionOf(alice.id, b.session_id)))._tag, "NotFound")
      const none = "00000000-0000-4000-8000-000000000001" as SessionId
      assert.strictEqual((yield* Effect.flip(accounts.sessionOf(bob.id, none)))._tag, "NotFound")

      yield* accounts.endSession(a.session_id)
      assert.strictEqual((yield* Effect.flip(accounts.sessionOf(alice.id, a.session_id)))._tag, "NotFound")
      assert.strictEqual((yield* accounts.sessionOf(bob.id, b.session_id)).id, b.session_id)
    }).pipe(Effect.provide(services()))
  )
})
