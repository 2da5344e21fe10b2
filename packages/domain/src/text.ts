/**
 * Character rules for text fields, written as regular expressions with the `u` flag so that
 * Effect exports them into `/openapi.json` as JSON Schema `pattern`s: the check the server
 * runs and the pattern a client reads are one regular expression. The classes are listed
 * code point by code point and put in as the characters themselves, not as `\p{...}`, `\s` or
 * `\u{...}`, because other regex engines (Python's, for one) read those differently or not at
 * all; `text.test.ts` proves each list equals what it names.
 */
import { Schema } from "effect"

type Range = readonly [number, number]

/** Unicode Cc (controls) and Cf (invisible formatting: bidi overrides, zero-width joiners). */
export const controlOrFormatRanges: ReadonlyArray<Range> = [
  [0x0, 0x1f],
  [0x7f, 0x9f],
  [0xad, 0xad],
  [0x600, 0x605],
  [0x61c, 0x61c],
  [0x6dd, 0x6dd],
  [0x70f, 0x70f],
  [0x890, 0x891],
  [0x8e2, 0x8e2],
  [0x180e, 0x180e],
  [0x200b, 0x200f],
  [0x202a, 0x202e],
  [0x2060, 0x2064],
  [0x2066, 0x206f],
  [0xfeff, 0xfeff],
  [0xfff9, 0xfffb],
  [0x110bd, 0x110bd],
  [0x110cd, 0x110cd],
  [0x13430, 0x1343f],
  [0x1bca0, 0x1bca3],
  [0x1d173, 0x1d17a],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f]
]

/** What JavaScript's `String.prototype.trim` removes (WhiteSpace and LineTerminator). */
export const trimmedRanges: ReadonlyArray<Range> = [
  [0x9, 0xd],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff]
]

/** The body of a character class, the characters themselves (none of them is `\\`, `]`, `^` or `-`). */
const classBody = (ranges: ReadonlyArray<Range>) =>
  ranges
    .map(([from, to]) =>
      from === to ? String.fromCodePoint(from) : `${String.fromCodePoint(from)}-${String.fromCodePoint(to)}`
    )
    .join("")

const control = classBody(controlOrFormatRanges)
/** The whitespace class body, for patterns such as an email address's. */
export const space = classBody(trimmedRanges)

const controlChar = new RegExp(`[${control}]`, "u")

/** True when `s` holds a control or invisible formatting character. */
export const hasControlOrFormatChars = (s: string) => controlChar.test(s)

/** Refuses control and invisible formatting characters, which make text display as something it is not. */
export const noControlChars = (what: string) =>
  Schema.isPattern(new RegExp(`^[^${control}]*$`, "u"), {
    message: `${what} must not contain control or invisible formatting characters (Unicode Cc/Cf)`
  })

/** Non-empty text with no surrounding whitespace (refused, not trimmed), at most `max` code points. */
export const trimmedText = (what: string, max: number) =>
  Schema.String.check(
    Schema.isPattern(new RegExp(`^[^${space}](?:[\\s\\S]*[^${space}])?$`, "u"), {
      message: `${what} must not be empty or start or end with whitespace`
    }),
    Schema.isMaxCodePoints(max, { message: `${what} must be at most ${max} characters` })
  )

/**
 * Text that is, once trimmed, 1 to `max` code points long with no control or formatting
 * character. Surrounding whitespace is allowed by this check and removed by the decoder.
 */
export const trimsToName = (what: string, max: number) => {
  const inner = `[^${control}]`
  const edge = `[^${space}${control}]`
  return Schema.isPattern(new RegExp(`^[${space}]*${edge}(?:${inner}{0,${max - 2}}${edge})?[${space}]*$`, "u"), {
    message: `${what} must be 1 to ${max} characters once trimmed`
  })
}
