import argon2 from "argon2"
import { Context, Effect, Layer, Semaphore } from "effect"

/** OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane. */
const options = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

/**
 * Hashes and verifies passwords with argon2id on libuv's thread pool, never on the event
 * loop. A semaphore bounds concurrent hashes so a login flood queues instead of
 * exhausting memory and threads.
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
