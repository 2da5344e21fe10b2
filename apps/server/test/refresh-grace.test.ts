/**
 * The refresh grace window (REFRESH_REUSE_GRACE), on SQLite in memory with the TestClock: a
 * copy of the token a refresh just replaced gets the same pair while the window lasts and is a
 * replay from its last millisecond on; the loser of two racing refreshes takes the same path;
 * successors are derived under the signing key and recognised under the previous one.
 */
import { assert, describe, it } from "@effect/vitest"
import { LoginRequest, SignupRequest } from "@parley/domain"
import { Sessions, SqliteStorage } from "@parley/storage"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { AccessTokens } from "../src/auth/access-tokens.ts"
import { Accounts, type SessionPolicy } from "../src/auth/accounts.ts"
import { PasswordHasher } from "../src/auth/passwords.ts"
import { hashRefreshToken } from "../src/auth/refresh-tokens.ts"
import { type Revocation, Revocations } from "../src/realtime/revocations.ts"

// Storage checks a refresh token's absolute expiry against the wall clock, so the TestClock
// starts at the real time.
const start = Date.now()
const grace = Duration.seconds(2)
const password = "grace-window-7x!"
const oldKey = Redacted.make("old-secret-0123456789-abcdefghijklmnopqrstuvwxyz")
const newKey = Redacted.make("new-secret-0123456789-abcdefghijklmnopqrstuvwxyz")

const plainHasher = Layer.succeed(PasswordHasher)(
  PasswordHasher.of({
    hash: (p) => Effect.succeed(`plain:${p}`),
    verify: (hash, p) => Effect.sync(() => hash === `plain:${p}`),
    verifyDummy: () => Effect.succeed(false)
  })
)

/** One store, and Accounts over it per policy: nodes of one deployment, possibly configured apart. */
const world = () => {
  const heard: Array<Revocation> = []
  const shared = Layer.mergeAll(
    SqliteStorage.layer(":memory:"),
    plainHasher,
    Layer.succeed(Revocations)(
      Revocations.of({ publish: (r) => Effect.sync(() => void heard.push(r)), listen: () => Effect.void })
    ),
    AccessTokens.layer({
      secret: newKey,
      previousSecret: Option.some(oldKey),
      issuer: "parley",
      audience: "parley",
      ttl: Duration.minutes(15)
    })
  )
  const node = (policy: Partial<SessionPolicy> = {}) =>
    Accounts.layer({
      idle: Duration.days(7),
      absolute: Duration.days(30),
      refreshGrace: grace,
      rotationSecrets: [newKey],
      ...policy
    })
  return { heard, shared, node }
}

const loggedIn = Effect.gen(function* () {
  yield* TestClock.setTime(start)
  const accounts = yield* Accounts
  yield* accounts.signup(new SignupRequest({ username: "ada", email: "ada@example.com", password }))
  return yield* accounts.login(new LoginRequest({ email_or_username: "ada", password }), { ip: null, userAgent: null })
})

const refresh = (token: string) => Effect.flatMap(Accounts, (a) => a.refresh(token, Option.none()))
const tag = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => error._tag)
const authenticates = (token: string) =>
  Effect.flatMap(Accounts, (a) => a.authenticate(token)).pipe(
    Effect.map((caller) => caller.sessionId),
    Effect.orElseSucceed(() => null)
  )

describe("refresh grace window", () => {
  it.effect("a copy within the window gets the same refresh token and a working access token of the session", () => {
    const { heard, shared, node } = world()
    return Effect.gen(function* () {
      const first = yield* loggedIn
      const rotated = yield* refresh(first.refresh_token)
      yield* TestClock.adjust(Duration.millis(1999))
      const again = yield* refresh(first.refresh_token)
      assert.strictEqual(again.refresh_token, rotated.refresh_token)
      assert.notStrictEqual(rotated.refresh_token, first.refresh_token)
      assert.strictEqual(again.session_id, first.session_id)
      assert.strictEqual(yield* authenticates(rotated.token), first.session_id)
      assert.strictEqual(yield* authenticates(again.token), first.session_id)
      assert.deepStrictEqual(heard, [])
      // The pair lives on: the successor rotates as usual.
      const next = yield* refresh(again.refresh_token)
      assert.notStrictEqual(next.refresh_token, again.refresh_token)
    }).pipe(Effect.provide(node().pipe(Layer.provideMerge(shared))))
  })

  it.effect("from the window's last millisecond on, a copy is a replay and ends the session", () => {
    const { heard, shared, node } = world()
    return Effect.gen(function* () {
      const first = yield* loggedIn
      const rotated = yield* refresh(first.refresh_token)
      yield* TestClock.adjust(grace)
      assert.strictEqual(yield* tag(refresh(first.refresh_token)), "InvalidRefreshToken")
      assert.deepStrictEqual(heard, [{ kind: "session", session_id: first.session_id }])
      assert.strictEqual(yield* tag(refresh(rotated.refresh_token)), "InvalidRefreshToken")
      assert.isNull(yield* authenticates(rotated.token))
    }).pipe(Effect.provide(node().pipe(Layer.provideMerge(shared))))
  })

  it.effect("only the token just replaced: once its successor rotated too, a copy of it is a replay", () => {
    const { heard, shared, node } = world()
    return Effect.gen(function* () {
      const first = yield* loggedIn
      const second = yield* refresh(first.refresh_token)
      yield* refresh(second.refresh_token)
      assert.strictEqual(yield* tag(refresh(first.refresh_token)), "InvalidRefreshToken")
      assert.deepStrictEqual(heard, [{ kind: "session", session_id: first.session_id }])
    }).pipe(Effect.provide(node().pipe(Layer.provideMerge(shared))))
  })

  it.effect("grace 0: any copy, even at once, ends the session (the behaviour before the window)", () => {
    const { heard, shared, node } = world()
    return Effect.gen(function* () {
      const first = yield* loggedIn
      yield* refresh(first.refresh_token)
      assert.strictEqual(yield* tag(refresh(first.refresh_token)), "InvalidRefreshToken")
      assert.deepStrictEqual(heard, [{ kind: "session", session_id: first.session_id }])
    }).pipe(Effect.provide(node({ refreshGrace: Duration.zero }).pipe(Layer.provideMerge(shared))))
  })

  /** The other refresh runs to the end while this one is between its checks and its rotate. */
  const racing = (race: { run: Effect.Effect<void> }) =>
    Layer.effect(
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

  const raceOnce = Effect.fnUntraced(function* (race: { run: Effect.Effect<void> }) {
    const first = yield* loggedIn
    const accounts = yield* Accounts
    let winner: string | null = null
    race.run = Effect.gen(function* () {
      race.run = Effect.void
      winner = (yield* accounts.refresh(first.refresh_token, Option.none())).refresh_token
    }).pipe(Effect.orDie)
    const loser = yield* Effect.result(accounts.refresh(first.refresh_token, Option.none()))
    return { first, winner: winner as string | null, loser }
  })

  it.effect("the loser of two racing refreshes takes the grace path: both get the same token", () => {
    const { heard, shared, node } = world()
    const race = { run: Effect.void as Effect.Effect<void> }
    return Effect.gen(function* () {
      const { first, winner, loser } = yield* raceOnce(race)
      assert.isNotNull(winner)
      assert.strictEqual(loser._tag, "Success")
      if (loser._tag !== "Success") return
      assert.strictEqual(loser.success.refresh_token, winner)
      assert.strictEqual(yield* authenticates(loser.success.token), first.session_id)
      assert.deepStrictEqual(heard, [])
      const sessions = yield* Sessions
      const stored = Option.getOrThrow(yield* sessions.get(first.session_id))
      assert.strictEqual(stored.currentHash, hashRefreshToken(winner!))
    }).pipe(Effect.provide(node().pipe(Layer.provide(racing(race)), Layer.provideMerge(shared))))
  })

  it.effect("grace 0: the loser of the race ends the session, the winner's token with it", () => {
    const { heard, shared, node } = world()
    const race = { run: Effect.void as Effect.Effect<void> }
    return Effect.gen(function* () {
      const { first, winner, loser } = yield* raceOnce(race)
      assert.strictEqual(loser._tag, "Failure")
      assert.deepStrictEqual(heard, [{ kind: "session", session_id: first.session_id }])
      assert.strictEqual(yield* tag(refresh(winner!)), "InvalidRefreshToken")
    }).pipe(
      Effect.provide(
        node({ refreshGrace: Duration.zero }).pipe(Layer.provide(racing(race)), Layer.provideMerge(shared))
      )
    )
  })

  it.effect("key rotation: a node that kept the old key as previous recognises a successor made under it", () => {
    const { heard, shared, node } = world()
    return Effect.gen(function* () {
      // Rotated by a node still signing with the old key.
      const first = yield* loggedIn.pipe(Effect.provide(node({ rotationSecrets: [oldKey] })))
      const rotated = yield* refresh(first.refresh_token).pipe(Effect.provide(node({ rotationSecrets: [oldKey] })))
      // The copy reaches a node on the new key that still holds the old one.
      const again = yield* refresh(first.refresh_token).pipe(
        Effect.provide(node({ rotationSecrets: [newKey, oldKey] }))
      )
      assert.strictEqual(again.refresh_token, rotated.refresh_token)
      // A node without the old key cannot rebuild the pair: refused, but not taken for a theft.
      const stranger = yield* tag(
        refresh(first.refresh_token).pipe(Effect.provide(node({ rotationSecrets: [newKey] })))
      )
      assert.strictEqual(stranger, "InvalidRefreshToken")
      assert.deepStrictEqual(heard, [])
      const next = yield* refresh(rotated.refresh_token).pipe(Effect.provide(node()))
      assert.notStrictEqual(next.refresh_token, rotated.refresh_token)
    }).pipe(Effect.provide(shared))
  })
})
