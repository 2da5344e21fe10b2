/**
 * Login limits on the in-process store, time on the TestClock: failed guesses only, per
 * (account, address) and per account, a cap that still lets known addresses in, and a total
 * that stays capped. The same rules run on the Redis store in the login-limits suite.
 */
import { assert, describe, it } from "@effect/vitest"
import { RateLimited } from "@parley/domain"
import { Duration, Effect, Layer } from "effect"
import { RateLimiter } from "effect/persistence"
import { TestClock } from "effect/testing"
import { type RateLimitConfig, RateLimits } from "../src/ratelimit/limits.ts"

const config: RateLimitConfig = {
  loginPerIp: 1000,
  loginPerAccountIp: 3,
  loginPerAccount: 6,
  loginWindow: Duration.minutes(15),
  loginKnownAddressTtl: Duration.days(30),
  signupPerIp: 1000,
  refreshPerIp: 1000,
  messagesPerUser: 1000,
  roomsPerUser: 1000,
  directRoomsPerUser: 1000,
  searchesPerUser: 1000,
  readMarksPerUser: 1000
}

const limits = (overrides: Partial<RateLimitConfig> = {}) =>
  RateLimits.layer({ ...config, ...overrides }).pipe(
    Layer.provide(RateLimiter.layer),
    Layer.provide(RateLimiter.layerStoreMemory)
  )

/** One login attempt: `right` gives the guess back, as the handler does when the password matched. */
const attempt = (ip: string, account: string, right = false) =>
  Effect.gen(function* () {
    const rateLimits = yield* RateLimits
    const outcome = yield* Effect.result(rateLimits.login(ip, account))
    if (outcome._tag === "Failure") return outcome.failure
    if (right) yield* outcome.success.passwordAccepted
    return "checked" as const
  })

const wrong = (ip: string, account: string, times: number) =>
  Effect.forEach(
    Array.from({ length: times }, () => ip),
    (from) => attempt(from, account)
  )

describe("login limits", () => {
  it.effect("a right password gives its guess back", () =>
    Effect.gen(function* () {
      for (let i = 0; i < 10; i++) assert.strictEqual(yield* attempt("1.1.1.1", "user:a", true), "checked")
      const guesses = yield* wrong("1.1.1.1", "user:a", 3)
      assert.deepStrictEqual(guesses, ["checked", "checked", "checked"])
      assert.instanceOf(yield* attempt("1.1.1.1", "user:a", true), RateLimited)
    }).pipe(Effect.provide(limits()))
  )

  it.effect("an address that used up its guesses on an account does not stop the same account elsewhere", () =>
    Effect.gen(function* () {
      yield* wrong("6.6.6.6", "user:victim", 3)
      const refused = yield* attempt("6.6.6.6", "user:victim", true)
      assert.instanceOf(refused, RateLimited)
      assert.isAtMost((refused as RateLimited).retryAfterSeconds, 15 * 60)
      assert.strictEqual(yield* attempt("2.2.2.2", "user:victim", true), "checked")
      // Nor other accounts from the attacker's address.
      assert.strictEqual(yield* attempt("6.6.6.6", "user:other"), "checked")
    }).pipe(Effect.provide(limits()))
  )

  it.effect("the account's cap holds across addresses; an address that logged in before still gets in", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* attempt("7.7.7.7", "user:victim", true), "checked")
      yield* wrong("6.6.6.1", "user:victim", 3)
      yield* wrong("6.6.6.2", "user:victim", 3)
      assert.instanceOf(yield* attempt("6.6.6.3", "user:victim"), RateLimited)
      assert.instanceOf(yield* attempt("8.8.8.8", "user:victim", true), RateLimited)
      assert.strictEqual(yield* attempt("7.7.7.7", "user:victim", true), "checked")
    }).pipe(Effect.provide(limits()))
  )

  it.effect("known addresses add at most one more cap of guesses: 2 x RATE_LOGIN_PER_ACCOUNT per window in all", () =>
    Effect.gen(function* () {
      const known = ["7.7.7.1", "7.7.7.2", "7.7.7.3", "7.7.7.4", "7.7.7.5"]
      for (const ip of known) yield* attempt(ip, "user:victim", true)
      let checked = 0
      for (const ip of [...known, "6.6.6.1", "6.6.6.2", "6.6.6.3", "6.6.6.4", "6.6.6.5"]) {
        for (const result of yield* wrong(ip, "user:victim", 3)) if (result === "checked") checked++
      }
      assert.strictEqual(checked, 2 * config.loginPerAccount)
    }).pipe(Effect.provide(limits()))
  )

  it.effect("a refusal is no guess: it does not use up the refused address's own budget", () =>
    Effect.gen(function* () {
      yield* wrong("6.6.6.1", "user:victim", 3)
      yield* wrong("6.6.6.2", "user:victim", 3)
      yield* TestClock.adjust(Duration.minutes(10))
      // The victim, from a new address, is refused by the account's cap...
      for (let i = 0; i < 5; i++) assert.instanceOf(yield* attempt("9.9.9.9", "user:victim", true), RateLimited)
      // ...and gets in as soon as the cap lifts, not one window after those refusals.
      yield* TestClock.adjust(Duration.minutes(6))
      assert.strictEqual(yield* attempt("9.9.9.9", "user:victim", true), "checked")
    }).pipe(Effect.provide(limits()))
  )

  it.effect("the window ends: budgets come back", () =>
    Effect.gen(function* () {
      yield* wrong("6.6.6.6", "user:victim", 3)
      assert.instanceOf(yield* attempt("6.6.6.6", "user:victim"), RateLimited)
      yield* TestClock.adjust(Duration.minutes(15))
      assert.strictEqual(yield* attempt("6.6.6.6", "user:victim"), "checked")
    }).pipe(Effect.provide(limits()))
  )

  it.effect("every attempt from one address counts against its per-minute limit, right or wrong", () =>
    Effect.gen(function* () {
      for (let i = 0; i < 4; i++) assert.strictEqual(yield* attempt("5.5.5.5", `user:${i}`, true), "checked")
      assert.instanceOf(yield* attempt("5.5.5.5", "user:new", true), RateLimited)
    }).pipe(Effect.provide(limits({ loginPerIp: 4 })))
  )
})
