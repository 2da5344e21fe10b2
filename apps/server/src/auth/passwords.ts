import argon2 from "argon2"
import { Context, Effect, Layer, Semaphore } from "effect"

/** OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane. */
const options = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

/**
 * Hashes and verifies passwords with argon2id on libuv's thread pool, never on the event
 * loop. A semaphore bounds concurrent hashes so a login flood queues instead of
 * exhausting memory and threads. It hashes exactly the string it is given: callers pass
 * `normalizePassword`'s form (`checkNewPassword`, `verifyLogin`).
 */
export class PasswordHasher extends Context.Service<
  PasswordHasher,
  {
    readonly hash: (password: string) => Effect.Effect<string>
    readonly verify: (hash: string, password: string) => Effect.Effect<boolean>
    /** Spends the same work as `verify` for a user that does not exist. */
    readonly verifyDummy: (password: string) => Effect.Effect<boolean>
  }
>()("parley/server/auth/PasswordHasher") {
  static readonly layer = (maxConcurrent: number) =>
    Layer.effect(
      PasswordHasher,
      Effect.gen(function* () {
        const permits = yield* Semaphore.make(maxConcurrent)
        const hash = (password: string) => permits.withPermits(1)(Effect.promise(() => argon2.hash(password, options)))
        const verify = (digest: string, password: string) =>
          permits.withPermits(1)(Effect.promise(() => argon2.verify(digest, password).catch(() => false)))
        const dummy = yield* hash(crypto.randomUUID())
        return PasswordHasher.of({
          hash: Effect.fn("PasswordHasher.hash")(hash),
          verify: Effect.fn("PasswordHasher.verify")(verify),
          verifyDummy: Effect.fn("PasswordHasher.verifyDummy")((password: string) =>
            Effect.as(verify(dummy, password), false)
          )
        })
      })
    )
}

/**
 * The one form of a password that is hashed and verified: NFKC, so that the same characters
 * typed on two keyboards (a composed "ä" or "a" + combining diaeresis, a full-width "Ａ") are
 * the same password.
 */
export const normalizePassword = (password: string) => password.normalize("NFKC")

/**
 * How a login's password compared with a stored hash. `legacy`: it matched only as typed, not
 * in its NFKC form, so the hash dates from before normalization and should be made again.
 */
export type LoginMatch = "match" | "legacy" | "mismatch"

/**
 * The NFKC form first; when that fails and the typed form differs, the typed form, because
 * hashes stored before normalization were made from it. Nothing already stored stops working.
 */
export const verifyLogin = Effect.fnUntraced(function* (
  hasher: PasswordHasher["Service"],
  digest: string,
  password: string
) {
  const normalized = normalizePassword(password)
  if (yield* hasher.verify(digest, normalized)) return "match" satisfies LoginMatch
  if (normalized !== password && (yield* hasher.verify(digest, password))) return "legacy" satisfies LoginMatch
  return "mismatch" satisfies LoginMatch
})

/**
 * `verifyLogin`'s work for a user that does not exist: as many argon2 runs as a wrong password
 * costs an existing user (two when the typed form is not NFKC), so timing does not tell them apart.
 */
export const verifyNobody = Effect.fnUntraced(function* (hasher: PasswordHasher["Service"], password: string) {
  const normalized = normalizePassword(password)
  yield* hasher.verifyDummy(normalized)
  if (normalized !== password) yield* hasher.verifyDummy(password)
})
