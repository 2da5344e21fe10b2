/**
 * The password policy for new passwords: the common list (as shipped, and compared in NFKC
 * form regardless of case) and the rule against passwords of nothing but whitespace and
 * invisible characters. `checkNewPassword` hands back the form that is hashed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { checkNewPassword, commonPasswords, passwordWeakness } from "../src/auth/password-policy.ts"

describe("password policy", () => {
  it("ships 5,000 common passwords, each already in the form it is compared in", () => {
    assert.strictEqual(commonPasswords.size, 5_000)
    for (const entry of commonPasswords) {
      assert.strictEqual(entry, entry.normalize("NFKC").toLowerCase(), entry)
      assert.isAtLeast([...entry].length, 8, entry)
    }
  })

  it("refuses common passwords in any case and any NFKC-equivalent form", () => {
    for (const password of ["password", "12345678", "PassWord", "iloveyou", "qwertyuiop", "ｐａｓｓｗｏｒｄ"]) {
      assert.strictEqual(passwordWeakness(password), "common", password)
    }
  })

  it("refuses passwords of nothing but whitespace, separators, control or invisible characters", () => {
    const blanks = [
      " ".repeat(8),
      "\t\n\r\v\f\t\n\r",
      "\u00a0".repeat(8), // no-break space
      "\u3000".repeat(8), // ideographic space
      "\u2028\u2029".repeat(4), // line and paragraph separators
      "\u0000\u0001\u001b\u007f\u0085\u009f\u0007\u0008", // C0 and C1 controls
      "\u200b\u200c\u200d\u2060\ufeff\u202e\u00ad\u200e", // zero width, bidi, soft hyphen
      "\u3164".repeat(8), // Hangul filler: a letter (Lo) that renders as nothing
      "\u{e0001}\u{e0020}".repeat(4), // tag characters
      "\ud800".repeat(8), // lone surrogates
      " \u200b \t\u3000\u0000 \u2060"
    ]
    for (const password of blanks) assert.strictEqual(passwordWeakness(password), "blank", JSON.stringify(password))
  })

  it("accepts other passwords, one visible character among blanks included", () => {
    // "secret12" is the seed command reference's password, which must keep working (rank 7,424).
    const fine = [
      "secret12",
      "correct horse battery",
      "pässwörd-ñ-12",
      "        x",
      "\u200b\u200b\u200b\u200b.\u200b\u200b\u200b",
      "\ue000".repeat(8)
    ]
    for (const password of fine) assert.isNull(passwordWeakness(password), JSON.stringify(password))
  })

  it.effect("hands back the NFKC form, or weak_password naming the rule", () =>
    Effect.gen(function* () {
      const nfd = "pa\u0308sswo\u0308rd-n\u0303-12"
      assert.strictEqual(yield* checkNewPassword(nfd), "pässwörd-ñ-12".normalize("NFC"))
      assert.strictEqual(yield* checkNewPassword("ﬁﬂ-Ａ-１２３"), "fifl-A-123")

      const common = yield* Effect.flip(checkNewPassword("Password"))
      assert.strictEqual(common._tag, "WeakPassword")
      assert.deepStrictEqual(common.error, {
        code: "weak_password",
        message: "that password is one of the most common passwords; choose another"
      })
      const blank = yield* Effect.flip(checkNewPassword(" ".repeat(12)))
      assert.deepStrictEqual(blank.error, {
        code: "weak_password",
        message: "password must contain characters other than whitespace and invisible or control characters"
      })
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(checkNewPassword("correct horse battery"))))
    })
  )
})
