/**
 * Passwords through `Accounts` with real argon2id, on SQLite in memory: NFKC on both sides (a
 * signup typed in NFC logs in typed in NFD), a hash stored before normalization (made from the
 * raw NFD string) still logs in and is made again from the NFKC form, weak new passwords are
 * refused before anything is stored, and an unknown user costs as many argon2 runs as a wrong
 * password does.
 */
import { assert, describe, it } from "@effect/vitest"
import { LoginRequest, SignupRequest, type UserId } from "@parley/domain"
import { SqliteStorage, Users } from "@parley/storage"
import argon2 from "argon2"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { AccessTokens } from "../src/auth/access-tokens.ts"
import { Accounts } from "../src/auth/accounts.ts"
import { PasswordHasher } from "../src/auth/passwords.ts"
import { Revocations } from "../src/realtime/revocations.ts"

const nfc = "pässwörd-ñ-12".normalize("NFC")
const nfd = nfc.normalize("NFD")

const accountsWith = (hasher: Layer.Layer<PasswordHasher>) =>
  Accounts.layer({ idle: Duration.days(7), absolute: Duration.days(30) }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        SqliteStorage.layer(":memory:"),
        hasher,
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

const signup = Effect.fnUntraced(function* (username: string, password: string) {
  const accounts = yield* Accounts
  return yield* accounts.signup(new SignupRequest({ username, email: `${username}@example.com`, password }))
})
const login = Effect.fnUntraced(function* (username: string, password: string) {
  const accounts = yield* Accounts
  return yield* accounts.login(new LoginRequest({ email_or_username: username, password }), {
    ip: null,
    userAgent: null
  })
})
const storedHash = Effect.fnUntraced(function* (id: UserId) {
  const users = yield* Users
  return Option.getOrThrow(yield* users.findById(id)).passwordHash
})

describe("passwords through Accounts (argon2id)", () => {
  it.effect(
    "NFC at signup, NFD at login (and the other way round) is the same password",
    () =>
      Effect.gen(function* () {
        const user = yield* signup("nina", nfc)
        // Stored from the NFKC form (here the same as NFC).
        const stored = yield* storedHash(user.id)
        assert.isTrue(yield* Effect.promise(() => argon2.verify(stored, nfc.normalize("NFKC"))))
        assert.strictEqual((yield* login("nina", nfd)).user.id, user.id)
        assert.strictEqual((yield* login("nina", nfc)).user.id, user.id)
        const other = yield* signup("nora", nfd)
        assert.strictEqual((yield* login("nora", nfc)).user.id, other.id)
        assert.strictEqual((yield* Effect.flip(login("nina", `${nfc}x`)))._tag, "InvalidCredentials")
      }).pipe(Effect.provide(accountsWith(PasswordHasher.layer(2)))),
    60_000
  )

  it.effect(
    "a hash made from the raw NFD string logs in with it and is made again from the NFKC form",
    () =>
      Effect.gen(function* () {
        const users = yield* Users
        const user = yield* signup("lena", "placeholder-pass")
        const legacy = yield* Effect.promise(() => argon2.hash(nfd, { type: argon2.argon2id }))
        yield* users.update(user.id, { passwordHash: legacy }, 0)
        // Before the upgrade, only the form that was hashed gets in.
        assert.strictEqual((yield* Effect.flip(login("lena", nfc)))._tag, "InvalidCredentials")

        assert.strictEqual((yield* login("lena", nfd)).user.id, user.id)
        const upgraded = yield* storedHash(user.id)
        assert.notStrictEqual(upgraded, legacy)
        assert.isTrue(yield* Effect.promise(() => argon2.verify(upgraded, nfc)))
        // After it, either form gets in, and the hash is not made again.
        assert.strictEqual((yield* login("lena", nfc)).user.id, user.id)
        assert.strictEqual((yield* login("lena", nfd)).user.id, user.id)
        assert.strictEqual(yield* storedHash(user.id), upgraded)
      }).pipe(Effect.provide(accountsWith(PasswordHasher.layer(2)))),
    60_000
  )
})

/** Plain-text "hashes" that count the argon2 runs each kind of check would cost. */
const countingHasher = () => {
  const runs = { verify: 0, dummy: 0, hashed: [] as Array<string> }
  const layer = Layer.succeed(PasswordHasher)(
    PasswordHasher.of({
      hash: (password) =>
        Effect.sync(() => {
          runs.hashed.push(password)
          return `plain:${password}`
        }),
      verify: (hash, password) =>
        Effect.sync(() => {
          runs.verify++
          return hash === `plain:${password}`
        }),
      verifyDummy: () =>
        Effect.sync(() => {
          runs.dummy++
          return false
        })
    })
  )
  return { runs, layer }
}

describe("passwords through Accounts (counted)", () => {
  const counted = countingHasher()

  it.effect("an unknown user costs what a wrong password costs, NFD or not", () =>
    Effect.gen(function* () {
      yield* signup("olga", "correct horse battery")
      for (const [password, runs] of [
        ["wrong-password-1", 1],
        [nfd, 2]
      ] as const) {
        counted.runs.verify = 0
        counted.runs.dummy = 0
        assert.strictEqual((yield* Effect.flip(login("olga", password)))._tag, "InvalidCredentials")
        assert.strictEqual(counted.runs.verify, runs, `existing user, ${password}`)
        assert.strictEqual((yield* Effect.flip(login("nobody-here", password)))._tag, "InvalidCredentials")
        assert.strictEqual(counted.runs.dummy, runs, `unknown user, ${password}`)
      }
    }).pipe(Effect.provide(accountsWith(counted.layer)))
  )

  it.effect("weak new passwords are refused before anything is hashed or stored; the NFKC form is hashed", () =>
    Effect.gen(function* () {
      const users = yield* Users
      counted.runs.hashed.length = 0
      for (const [password, message] of [
        ["12345678", /most common/],
        ["PASSWORD", /most common/],
        ["\u200b \u3000\t\u200b  \u00a0", /whitespace/]
      ] as const) {
        const refused = yield* Effect.flip(signup("petra", password))
        assert.strictEqual(refused._tag, "WeakPassword")
        if (refused._tag === "WeakPassword") assert.match(refused.error.message, message)
      }
      assert.deepStrictEqual(counted.runs.hashed, [])
      assert.isTrue(Option.isNone(yield* users.findByUsername("petra")))
      yield* signup("petra", "ﬁﬂ-Ａ-１２３-ok")
      assert.deepStrictEqual(counted.runs.hashed, ["fifl-A-123-ok"])
    }).pipe(Effect.provide(accountsWith(counted.layer)))
  )
})
