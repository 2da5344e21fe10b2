/**
 * What a new password must be, beyond the `Password` schema's length bounds (8 to 1024):
 * not only whitespace and invisible characters, and not one of the 5,000 most common
 * passwords (`common-passwords.txt`, whose header names its source). Both rules look at the
 * NFKC form, the form that is hashed; the common list is compared case-insensitively.
 * Logins are never checked against the policy, so no existing password is locked out.
 */
import { readFileSync } from "node:fs"
import { WeakPassword } from "@parley/domain"
import { Effect } from "effect"
import { normalizePassword } from "./passwords.ts"

/**
 * White_Space, separators (Z*), controls (Cc), format characters (Cf, e.g. zero-width space),
 * surrogates and unassigned code points (Cs, Cn), and other characters that render as
 * nothing (Default_Ignorable_Code_Point, e.g. the Hangul fillers). Private-use characters
 * are not in it: they show as glyphs where a font defines them.
 */
const blankOnly = /^[\p{White_Space}\p{Z}\p{Cc}\p{Cf}\p{Cs}\p{Cn}\p{Default_Ignorable_Code_Point}]*$/u

/** Read once, when this module is first imported: 5,000 strings in a Set. */
const loadCommon = (): ReadonlySet<string> =>
  new Set(
    readFileSync(new URL("./common-passwords.txt", import.meta.url), "utf8")
      .split("\n")
      .filter((line) => line.length > 0 && !line.startsWith("#"))
  )

export const commonPasswords: ReadonlySet<string> = loadCommon()

/** Which rule a new password breaks, if any; `password` is the raw input. */
export const passwordWeakness = (password: string): "blank" | "common" | null => {
  const normalized = normalizePassword(password)
  if (blankOnly.test(normalized)) return "blank"
  if (commonPasswords.has(normalized.toLowerCase())) return "common"
  return null
}

const messages = {
  blank: "password must contain characters other than whitespace and invisible or control characters",
  common: "that password is one of the most common passwords; choose another"
} as const

/** A new password's NFKC form, ready to hash, or `weak_password` naming the broken rule. */
export const checkNewPassword = (password: string): Effect.Effect<string, WeakPassword> => {
  const weakness = passwordWeakness(password)
  return weakness === null
    ? Effect.succeed(normalizePassword(password))
    : Effect.fail(new WeakPassword({ error: { code: "weak_password", message: messages[weakness] } }))
}
