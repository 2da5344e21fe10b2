/**
 * Password hashing with real argon2id: a hash verifies its own password and no other, a
 * stored hash that is not argon2 at all verifies nothing instead of failing the login, and
 * the dummy check for unknown users never says yes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { PasswordHasher } from "../src/auth/passwords.ts"

describe("password hasher", () => {
  it.effect(
    "a hash verifies its password only; a broken hash and the dummy check answer no",
    () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher
        const digest = yield* hasher.hash("correct horse battery")
        assert.match(digest, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/)
        assert.notInclude(digest, "correct horse battery")
        assert.isTrue(yield* hasher.verify(digest, "correct horse battery"))
        assert.isFalse(yield* hasher.verify(digest, "correct horse battery!"))
        assert.isFalse(yield* hasher.verify("not-an-argon2-hash", "correct horse battery"))
        assert.isFalse(yield* hasher.verifyDummy("correct horse battery"))
        // Salted: the same password never hashes the same way twice.
        assert.notStrictEqual(yield* hasher.hash("correct horse battery"), digest)
      }).pipe(Effect.provide(PasswordHasher.layer(1))),
    30_000
  )
})
