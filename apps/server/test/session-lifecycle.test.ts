/**
 * The life of a login session, on SQLite in memory with the TestClock: who may log in, what
 * an access token is worth while its session lives, refresh-token rotation and replay, idle
 * and absolute expiry to the millisecond, and the ways a session ends (each announced to
 * every node through `Revocations`).
 */
import { assert, describe, it } from "@effect/vitest"
import { LoginRequest, type SessionId, SignupRequest, type UserId } from "@parley/domain"
import { Sessions, SqliteStorage, Users } from "@parley/storage"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { AccessTokens } from "../src/auth/access-tokens.ts"
import { Accounts, type Caller } from "../src/auth/accounts.ts"
import { PasswordHasher } from "../src/auth/passwords.ts"
import { hashRefreshToken } from "../src/auth/refresh-tokens.ts"
import { type Revocation, Revocations } from "../src/realtime/revocations.ts"

// Storage checks a refresh token's absolute expiry against the wall clock, so the TestClock
// starts at the real time.
const start = Date.now()
const idle = Duration.days(7)
const absolute = Duration.days(30)

/** Plain-text "hashes" (argon2 is tested on its own); counts the dummy checks of unknown users. */
const hasher = () => {
  const counts = { dummy: 0 }
  const layer = Layer.succeed(PasswordHasher)(
    PasswordHasher.of({
      hash: (password) => Effect.succeed(`plain:${password}`),
      verify: (hash, password) => Effect.sync(() => hash === `plain:${password}`),
      verifyDummy: () =>
        Effect.sync(() => {
          counts.dummy++
          return false
        })
    })
  )
  return { counts, layer }
}

/** Every revocation announced, in order. */
const announced = () => {
  const heard: Array<Revocation> = []
  const layer = Layer.succeed(Revocations)(
    Revocations.of({ publish: (r) => Effect.sync(() => void heard.push(r)), listen: () => Effect.void })
  )
  return { heard, layer }
}

const world = (lifetimes = { idle, absolute }) => {
  const passwords = hasher()
  const revocations = announced()
  const layer = Accounts.layer(lifetimes).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        SqliteStorage.layer(":memory:"),
        passwords.layer,
        revocations.layer,
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
  return { counts: passwords.counts, heard: revocations.heard, layer }
}

const signup = Effect.fnUntraced(function* (username: string) {
  const accounts = yield* Accounts
  return yield* accounts.signup(new SignupRequest({ username, email: `${username}@example.com`, password: "secret12" }))
})
const login = Effect.fnUntraced(function* (
  login: string,
  password = "secret12",
  client: { ip: string | null; userAgent: string | null } = { ip: null, userAgent: null }
) {
  const accounts = yield* Accounts
  return yield* accounts.login(new LoginRequest({ email_or_username: login, password }), client)
})
const callerOf = Effect.fnUntraced(function* (token: string) {
  const accounts = yield* Accounts
  return yield* accounts.authenticate(token)
})
const disable = Effect.fnUntraced(function* (userId: UserId) {
  const users = yield* Users
  yield* users.update(userId, { disabled: true }, start)
})
const tag = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => error._tag)

describe("session lifecycle", () => {
  it.effect("login: by username or email; unknown users and wrong passwords get the same 401", () => {
    const { counts, layer } = world()
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const ada = yield* signup("ada")
      assert.strictEqual((yield* login("ada")).user.id, ada.id)
      assert.strictEqual((yield* login("ada@example.com")).user.id, ada.id)
      assert.strictEqual(yield* tag(login("ada", "wrong-password")), "InvalidCredentials")
      assert.strictEqual(counts.dummy, 0)
      // An unknown user costs a dummy password check, so timing does not tell it apart.
      assert.strictEqual(yield* tag(login("nobody")), "InvalidCredentials")
      assert.strictEqual(yield* tag(login("nobody@example.com")), "InvalidCredentials")
      assert.strictEqual(counts.dummy, 2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a disabled account is told so only with the right password, and gets no session", () => {
    const { layer } = world()
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const ada = yield* signup("ada")
      yield* disable(ada.id)
      assert.strictEqual(yield* tag(login("ada", "wrong-password")), "InvalidCredentials")
      const refused = yield* Effect.flip(login("ada"))
      assert.strictEqual(refused._tag, "Forbidden")
      const sessions = yield* Sessions
      assert.deepStrictEqual(yield* sessions.listByUser(ada.id), [])
    }).pipe(Effect.provide(layer))
  })

  it.effect("the session keeps the client's address and at most 256 characters of its user agent", () => {
    const { layer } = world()
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const ada = yield* signup("ada")
      const userAgent = "a".repeat(300)
      const t = yield* login("ada", "secret12", { ip: "203.0.113.9", userAgent })
      const sessions = yield* Sessions
      const stored = Option.getOrThrow(yield* sessions.get(t.session_id))
      assert.strictEqual(stored.userAgent, userAgent.slice(0, 256))
      assert.strictEqual(stored.ip, "203.0.113.9")
      assert.strictEqual(stored.userId, ada.id)
      // Only the token's SHA-256, in hex, is stored; the token itself is 256 random bits.
      assert.strictEqual(stored.currentHash, hashRefreshToken(t.refresh_token))
      assert.match(stored.currentHash, /^[0-9a-f]{64}$/)
      assert.match(t.refresh_token, /^[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(stored.expiresAt, start + Duration.toMillis(absolute))
    }).pipe(Effect.provide(layer))
  })

  it.effect("an access token authenticates while its session lives, its user is enabled and owns it", () => {
    const { layer } = world()
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const ada = yield* signup("ada")
      const bob = yield* signup("bob")
      const t = yield* login("ada")
      const caller = yield* callerOf(t.token)
      assert.strictEqual(caller.userId, ada.id)
      assert.strictEqual(caller.sessionId, t.session_id)
      assert.strictEqual(caller.user.username, "ada")

      // A token naming Bob with Ada's session is refused, however well signed.
      const tokens = yield* AccessTokens
      const forged = yield* tokens.issue(bob.id, t.session_id, "user")
      assert.strictEqual(yield* tag(callerOf(forged.token)), "Unauthorized")
      assert.strictEqual(yield* tag(callerOf("not-a-token")), "Unauthorized")

      // Logged out: the same, still unexpired, token is refused at once.
      const accounts = yield* Accounts
      yield* accounts.logout(caller, t.refresh_token)
      assert.strictEqual(yield* tag(callerOf(t.token)), "Unauthorized")

      // Disabled: a token of a live session is refused too.
      const again = yield* login("ada")
      yield* disable(ada.id)
      assert.strictEqual(yield* tag(callerOf(again.token)), "Unauthorized")
    }).pipe(Effect.provide(layer))
  })

  it.effect("refresh rotates the token; the old one coming back ends the whole session", () => {
    const { heard, layer } = world()
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const ada = yield* signup("ada")
      const accounts = yield* Accounts
      const first = yield* login("ada")
      const second = yield* accounts.refresh(first.refresh_token, Option.some(ada.id))
      assert.notStrictEqual(second.refresh_token, first.refresh_token)
      assert.strictEqual(second.session_id, first.session_id)
      assert.strictEqual(second.user.id, ada.id)
      assert.strictEqual((yield* callerOf(second.token)).sessionId, first.session_id)
      assert.deepStrictEqual(heard, [])

      // Replay of the rotated token: refused, and the live token dies with the session.
      assert.strictEqual(yield* tag(accounts.refresh(first.refresh_token, Option.none())), "InvalidRefreshToken")
      assert.deepStrictEqual(heard, [{ kind: "session", session_id: first.session_id }])
      assert.strictEqual(yield* tag(accounts.refresh(second.refresh_token, Option.none())), "InvalidRefreshToken")
      assert.strictEqual(yield* tag(callerOf(second.token)), "Unauthorized")
    }).pipe(Effect.provide(layer))
  })

  it.effect("of two refreshes of one token racing, the loser ends the session: nobody keeps a copy", () => {
    const { heard, layer } = world()
    // The other refresh runs to the end while this one is between its checks and its rotate.
    const race = { run: Effect.void as Effect.Effect<void> }
    const racing = Layer.effect(
      Sessions,
      Effect.gen(function* () {
        const real = yield* Sessions
        return Sessions.of({
          ...real,
          rotate: (options) =>
            Effect.andThen(
              Effect.suspend(() => race.run),
              real.rotate(options)
            )
        })
      })
    )
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      yield* signup("ada")
      const accounts = yield* Accounts
      const t = yield* login("ada")
      let winner: string | null = null
      race.run = Effect.gen(function* () {
        race.run = Effect.void
        winner = (yield* accounts.refresh(t.refresh_token, Option.none())).refresh_token
      }).pipe(Effect.orDie)

      assert.strictEqual(yield* tag(accounts.refresh(t.refresh_token, Option.none())), "InvalidRefreshToken")
      assert.isNotNull(winner)
      assert.deepStrictEqual(heard, [{ kind: "session", session_id: t.session_id }])
      assert.strictEqual(yield* tag(accounts.refresh(winner!, Option.none())), "InvalidRefreshToken")
    }).pipe(Effect.provide(Accounts.layer({ idle, absolute }).pipe(Layer.provide(racing), Layer.provideMerge(layer))))
  })

  it.effect("refresh is refused for another user's bearer, an unknown token or a disabled user", () => {
    const { heard, layer } = world()
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const ada = yield* signup("ada")
      const bob = yield* signup("bob")
      const accounts = yield* Accounts
      const t = yield* login("ada")
      assert.strictEqual(yield* tag(accounts.refresh(t.refresh_token, Option.some(bob.id))), "InvalidRefreshToken")
      assert.strictEqual(yield* tag(accounts.refresh("made-up-token", Option.none())), "InvalidRefreshToken")
      // Bob's bearer proved nothing, so Ada's session was not ended for it.
      assert.deepStrictEqual(heard, [])
      const next = yield* accounts.refresh(t.refresh_token, Option.none())
      yield* disable(ada.id)
      assert.strictEqual(yield* tag(accounts.refresh(next.refresh_token, Option.none())), "InvalidRefreshToken")
    }).pipe(Effect.provide(layer))
  })

  it.effect("idle expiry: a session unused for exactly the idle lifetime is over; refreshing moves it", () => {
    const { layer } = world()
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const ada = yield* signup("ada")
      const accounts = yield* Accounts
      const t = yield* login("ada")
      const [view] = yield* accounts.sessionsOf(ada.id)
      assert.strictEqual(view!.expires_at, new Date(start + Duration.toMillis(idle)).toISOString())

      yield* TestClock.adjust(Duration.sum(idle, Duration.millis(-1)))
      assert.strictEqual((yield* accounts.sessionsOf(ada.id)).length, 1)
      const next = yield* accounts.refresh(t.refresh_token, Option.none())
      const movedTo = start + Duration.toMillis(idle) - 1
      assert.strictEqual((yield* accounts.sessionsOf(ada.id))[0]!.last_used_at, new Date(movedTo).toISOString())

      yield* TestClock.setTime(movedTo + Duration.toMillis(idle) - 1)
      assert.strictEqual((yield* accounts.sessionsOf(ada.id)).length, 1)
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(yield* accounts.sessionsOf(ada.id), [])
      assert.strictEqual(yield* tag(accounts.refresh(next.refresh_token, Option.none())), "InvalidRefreshToken")
      const notFound = yield* Effect.flip(accounts.sessionOf(ada.id, t.session_id))
      assert.deepStrictEqual(notFound.error, { code: "not_found", message: "no such session for this user" })
    }).pipe(Effect.provide(layer))
  })

  it.effect("absolute expiry: however recently used, a session ends at its absolute lifetime", () => {
    // Idle longer than absolute, so only the absolute limit can end it.
    const { layer } = world({ idle: Duration.days(60), absolute })
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const ada = yield* signup("ada")
      const accounts = yield* Accounts
      const t = yield* login("ada")
      const end = start + Duration.toMillis(absolute)
      assert.strictEqual((yield* accounts.sessionsOf(ada.id))[0]!.expires_at, new Date(end).toISOString())

      yield* TestClock.setTime(end - 1)
      const next = yield* accounts.refresh(t.refresh_token, Option.none())
      assert.strictEqual((yield* accounts.sessionsOf(ada.id)).length, 1)
      yield* TestClock.setTime(end)
      assert.deepStrictEqual(yield* accounts.sessionsOf(ada.id), [])
      assert.strictEqual(yield* tag(accounts.refresh(next.refresh_token, Option.none())), "InvalidRefreshToken")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a user's session list marks the caller's own session, and shows live sessions only", () => {
    const { layer } = world()
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      yield* signup("ada")
      const accounts = yield* Accounts
      const a = yield* login("ada", "secret12", { ip: "198.51.100.1", userAgent: "phone" })
      const b = yield* login("ada", "secret12", { ip: "198.51.100.2", userAgent: "laptop" })
      const ended = yield* login("ada")
      yield* accounts.endSession(ended.session_id)
      const caller: Caller = yield* callerOf(a.token)
      const views = yield* accounts.listSessions(caller)
      const byId = new Map(views.map((v) => [v.id as SessionId, v]))
      assert.strictEqual(views.length, 2)
      assert.isTrue(byId.get(a.session_id)!.current)
      assert.isFalse(byId.get(b.session_id)!.current)
      assert.strictEqual(byId.get(b.session_id)!.user_agent, "laptop")
      assert.strictEqual(byId.get(b.session_id)!.ip, "198.51.100.2")
      assert.isFalse(byId.has(ended.session_id))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a user revokes their own other session; someone else's is not found and lives on", () => {
    const { heard, layer } = world()
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      yield* signup("ada")
      yield* signup("bob")
      const accounts = yield* Accounts
      const phone = yield* login("ada")
      const laptop = yield* login("ada")
      const bobs = yield* login("bob")
      const ada = yield* callerOf(phone.token)

      assert.strictEqual(yield* tag(accounts.revokeSession(ada, bobs.session_id)), "NotFound")
      assert.strictEqual((yield* callerOf(bobs.token)).sessionId, bobs.session_id)
      // Nor can Ada log Bob out with his refresh token.
      assert.strictEqual(yield* tag(accounts.logout(ada, bobs.refresh_token)), "InvalidRefreshToken")
      assert.strictEqual((yield* callerOf(bobs.token)).sessionId, bobs.session_id)
      assert.deepStrictEqual(heard, [])

      yield* accounts.revokeSession(ada, laptop.session_id)
      assert.deepStrictEqual(heard, [{ kind: "session", session_id: laptop.session_id }])
      assert.strictEqual(yield* tag(callerOf(laptop.token)), "Unauthorized")
      assert.strictEqual(yield* tag(accounts.refresh(laptop.refresh_token, Option.none())), "InvalidRefreshToken")
      assert.strictEqual((yield* callerOf(phone.token)).sessionId, phone.session_id)
    }).pipe(Effect.provide(layer))
  })

  it.effect("ending all of a user's sessions revokes each, counts the live ones, and tells every node once", () => {
    const { heard, layer } = world()
    return Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const ada = yield* signup("ada")
      const bob = yield* signup("bob")
      const accounts = yield* Accounts
      const sessions = yield* Sessions
      const stale = yield* login("ada")
      yield* TestClock.adjust(Duration.days(6))
      const phone = yield* login("ada")
      const laptop = yield* login("ada")
      const ended = yield* login("ada")
      const bobs = yield* login("bob")
      yield* accounts.endSession(ended.session_id)
      // `stale` went idle a day ago: not counted, yet revoked all the same.
      yield* TestClock.adjust(Duration.days(2))
      heard.length = 0

      assert.strictEqual(yield* accounts.endAllSessions(ada.id), 2)
      assert.deepStrictEqual(heard, [{ kind: "user", user_id: ada.id }])
      for (const s of yield* sessions.listByUser(ada.id)) assert.isTrue(s.revoked, s.id)
      for (const t of [phone, laptop]) {
        assert.strictEqual(yield* tag(accounts.refresh(t.refresh_token, Option.none())), "InvalidRefreshToken")
      }
      assert.strictEqual(
        Option.getOrThrow(yield* sessions.get(stale.session_id)).revoked,
        true,
        "an idle session is revoked too"
      )
      assert.strictEqual((yield* accounts.sessionsOf(bob.id)).length, 1)
      assert.strictEqual((yield* accounts.refresh(bobs.refresh_token, Option.none())).session_id, bobs.session_id)
    }).pipe(Effect.provide(layer))
  })
})
