/**
 * Access tokens: what `issue` signs is what `verify` accepts, for `ttl` and no longer; only
 * HS256 with our key (or the previous one during rotation), our issuer and our audience;
 * every claim Parley reads must be there; huge tokens are refused. Time is the TestClock.
 */
import { createHmac } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import type { SessionId, UserId } from "@parley/domain"
import { Duration, Effect, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { type JWTPayload, SignJWT } from "jose"
import { type AccessTokenOptions, AccessTokens } from "../src/auth/access-tokens.ts"

const secret = "current-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
const oldSecret = "previous-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
const userId = "00000000-0000-4000-8000-00000000000a" as UserId
const sessionId = "00000000-0000-4000-8000-00000000000b" as SessionId
const start = Date.parse("2026-03-01T12:00:00Z")
const ttl = Duration.minutes(15)

const options = (overrides: Partial<AccessTokenOptions> = {}): AccessTokenOptions => ({
  secret: Redacted.make(secret),
  previousSecret: Option.none(),
  issuer: "parley",
  audience: "parley-api",
  ttl,
  ...overrides
})

/** A service built with `overrides`, to issue or verify with. */
const tokensWith = (overrides: Partial<AccessTokenOptions> = {}) =>
  Effect.provide(
    Effect.gen(function* () {
      return yield* AccessTokens
    }),
    AccessTokens.layer(options(overrides))
  )

/** Signs `payload` by hand, for tokens `issue` would never make. */
const sign = (payload: JWTPayload, key = secret, alg = "HS256") =>
  Effect.promise(() => new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(new TextEncoder().encode(key)))

const nowSeconds = Math.floor(start / 1000)
const validClaims = (): JWTPayload => ({
  sub: userId,
  sid: sessionId,
  iss: "parley",
  aud: "parley-api",
  iat: nowSeconds,
  exp: nowSeconds + 900
})

const refused = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.flip(effect), (error) => error._tag)

describe("access tokens", () => {
  it.effect("a token it issues verifies, carrying the user, the session, the role and a ttl-long life", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const tokens = yield* tokensWith()
      const issued = yield* tokens.issue(userId, sessionId, "admin")
      assert.strictEqual(issued.expiresIn, 900)
      const claims = yield* tokens.verify(issued.token)
      assert.strictEqual(claims.sub, userId)
      assert.strictEqual(claims.sid, sessionId)
      assert.strictEqual(claims.role, "admin")
      assert.strictEqual(claims.iss, "parley")
      assert.strictEqual(claims.aud, "parley-api")
      assert.strictEqual(claims.iat, nowSeconds)
      assert.strictEqual(claims.exp, nowSeconds + 900)
      const header = JSON.parse(Buffer.from(issued.token.split(".")[0]!, "base64url").toString())
      assert.deepStrictEqual(header, { alg: "HS256", typ: "JWT" })
    })
  )

  it.effect("verify refuses it once ttl has passed; verifyIgnoringExpiry still accepts it", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const tokens = yield* tokensWith()
      const { token } = yield* tokens.issue(userId, sessionId, "user")
      yield* TestClock.adjust(Duration.sum(ttl, Duration.seconds(-1)))
      assert.strictEqual((yield* tokens.verify(token)).sid, sessionId)
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual(yield* refused(tokens.verify(token)), "Unauthorized")
      assert.strictEqual((yield* tokens.verifyIgnoringExpiry(token)).sid, sessionId)
    })
  )

  it.effect("a token checked once is held to the clock on every later use: valid from nbf, refused from exp", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const tokens = yield* tokensWith()
      const token = yield* sign({ ...validClaims(), nbf: nowSeconds + 60 })
      assert.strictEqual(yield* refused(tokens.verify(token)), "Unauthorized")
      yield* TestClock.adjust(Duration.seconds(60))
      assert.strictEqual((yield* tokens.verify(token)).sid, sessionId)
      yield* TestClock.adjust(Duration.seconds(840))
      assert.strictEqual(yield* refused(tokens.verify(token)), "Unauthorized")
      assert.strictEqual((yield* tokens.verifyIgnoringExpiry(token)).sid, sessionId)
    })
  )

  it.effect("another issuer's or audience's token is refused, expired or not", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const tokens = yield* tokensWith()
      const otherIssuer = yield* tokensWith({ issuer: "someone-else" })
      const otherAudience = yield* tokensWith({ audience: "another-api" })
      for (const other of [otherIssuer, otherAudience]) {
        const { token } = yield* other.issue(userId, sessionId, "user")
        assert.strictEqual(yield* refused(tokens.verify(token)), "Unauthorized")
        assert.strictEqual(yield* refused(tokens.verifyIgnoringExpiry(token)), "Unauthorized")
      }
      yield* TestClock.adjust(Duration.hours(1))
      for (const other of [otherIssuer, otherAudience]) {
        yield* TestClock.setTime(start)
        const { token } = yield* other.issue(userId, sessionId, "user")
        yield* TestClock.adjust(Duration.hours(1))
        assert.strictEqual(yield* refused(tokens.verifyIgnoringExpiry(token)), "Unauthorized")
      }
    })
  )

  it.effect("an expired token whose audience is a list holding ours is still tied to its user", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const tokens = yield* tokensWith()
      const listed = yield* sign({ ...validClaims(), aud: ["other", "parley-api"] })
      const notListed = yield* sign({ ...validClaims(), aud: ["other", "third"] })
      assert.strictEqual((yield* tokens.verify(listed)).sub, userId)
      yield* TestClock.adjust(Duration.hours(1))
      assert.strictEqual((yield* tokens.verifyIgnoringExpiry(listed)).sub, userId)
      assert.strictEqual(yield* refused(tokens.verifyIgnoringExpiry(notListed)), "Unauthorized")
    })
  )

  it.effect("during key rotation the previous key still verifies; an unknown key never does", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const before = yield* tokensWith({ secret: Redacted.make(oldSecret) })
      const rotating = yield* tokensWith({ previousSecret: Option.some(Redacted.make(oldSecret)) })
      const rotated = yield* tokensWith()
      const { token } = yield* before.issue(userId, sessionId, "user")
      assert.strictEqual((yield* rotating.verify(token)).sid, sessionId)
      assert.strictEqual(yield* refused(rotated.verify(token)), "Unauthorized")
      // New tokens are signed with the new key only.
      const fresh = yield* rotating.issue(userId, sessionId, "user")
      assert.strictEqual((yield* rotated.verify(fresh.token)).sid, sessionId)
      assert.strictEqual(yield* refused(before.verify(fresh.token)), "Unauthorized")
      // An expired token of the previous key still ties a refresh to its user.
      yield* TestClock.adjust(Duration.hours(1))
      assert.strictEqual((yield* rotating.verifyIgnoringExpiry(token)).sub, userId)
    })
  )

  it.effect("the algorithm is pinned: an HS512 token with our key is refused", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const tokens = yield* tokensWith()
      assert.strictEqual((yield* tokens.verify(yield* sign(validClaims()))).sub, userId)
      assert.strictEqual(yield* refused(tokens.verify(yield* sign(validClaims(), secret, "HS512"))), "Unauthorized")
    })
  )

  it.effect("only a compact HS256 JWS as Parley makes it verifies: no crit, no odd encodings, an object payload", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const tokens = yield* tokensWith()
      const good = yield* sign(validClaims())
      const [header, payload, signature] = good.split(".") as [string, string, string]
      const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
      /** Any header and payload, signed with our key: what jose refuses to make. */
      const signRaw = (head: unknown, body: unknown) => {
        const input = `${b64(head)}.${b64(body)}`
        return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`
      }
      assert.strictEqual((yield* tokens.verify(signRaw({ alg: "HS256" }, validClaims()))).sub, userId)
      const forged: Record<string, string> = {
        "a crit header": signRaw({ alg: "HS256", crit: ["exp"] }, validClaims()),
        "a payload that is a JSON array": signRaw({ alg: "HS256" }, [validClaims()]),
        "alg written in lower case": signRaw({ alg: "hs256" }, validClaims()),
        "a padded signature": `${good}=`,
        "a signature with a character outside base64url": `${header}.${payload}.${signature.slice(0, -1)}+`,
        // Node's decoder skips these, so the bytes would be the right signature's.
        "a signature led by a character outside base64url": `${header}.${payload}.!${signature}`,
        "a signature ending in a space": `${header}.${payload}.${signature} `,
        "a truncated signature": `${header}.${payload}.${signature.slice(0, -4)}`,
        "a fourth part": `${good}.${signature}`,
        "a header that is not JSON": `${Buffer.from("{alg").toString("base64url")}.${payload}.${signature}`,
        "not yet valid (nbf in the future)": yield* sign({ ...validClaims(), nbf: nowSeconds + 60 }),
        "an nbf that is not a number": yield* sign({ ...validClaims(), nbf: "later" as unknown as number })
      }
      for (const [name, token] of Object.entries(forged)) {
        assert.strictEqual(yield* refused(tokens.verify(token)), "Unauthorized", name)
        assert.strictEqual(yield* refused(tokens.verifyIgnoringExpiry(token)), "Unauthorized", name)
      }
      assert.strictEqual((yield* tokens.verify(good)).sub, userId)
      assert.strictEqual((yield* tokens.verify(yield* sign({ ...validClaims(), nbf: nowSeconds }))).sub, userId)
    })
  )

  it.effect("a token without a claim Parley reads, or with one of the wrong type, is refused", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const tokens = yield* tokensWith()
      for (const claim of ["sub", "sid", "iat", "exp"]) {
        const { [claim]: _dropped, ...rest } = validClaims()
        assert.strictEqual(yield* refused(tokens.verify(yield* sign(rest))), "Unauthorized", `without ${claim}`)
      }
      assert.strictEqual(yield* refused(tokens.verify(yield* sign({ ...validClaims(), sid: 42 }))), "Unauthorized")
      assert.strictEqual(yield* refused(tokens.verify(yield* sign({ ...validClaims(), role: "root" }))), "Unauthorized")
      // Tokens from before roles existed carry none, and still verify.
      const claims = yield* tokens.verify(yield* sign(validClaims()))
      assert.isFalse("role" in claims)
    })
  )

  it.effect("a token longer than 4096 characters is refused, however well signed", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const tokens = yield* tokensWith()
      // Pad a valid token to lengths around the limit (base64url skips some lengths).
      const byLength = new Map<number, string>()
      for (let pad = 2780; pad < 2880; pad++) {
        const token = yield* sign({ ...validClaims(), pad: "x".repeat(pad) })
        byLength.set(token.length, token)
      }
      const atLimit = byLength.get(4096) ?? byLength.get(4095)
      const over = byLength.get(4097) ?? byLength.get(4098)
      assert.isDefined(atLimit)
      assert.isDefined(over)
      assert.strictEqual((yield* tokens.verify(atLimit!)).sub, userId)
      assert.strictEqual(yield* refused(tokens.verify(over!)), "Unauthorized")
      assert.strictEqual(yield* refused(tokens.verifyIgnoringExpiry(over!)), "Unauthorized")
    })
  )
})
