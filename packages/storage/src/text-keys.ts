/**
 * Text keys as both databases order them: SQLite's BINARY collation and Cassandra's `text`
 * compare UTF-8 bytes, which is code point order. JavaScript's `<` compares UTF-16 units,
 * which differs above U+FFFF, so bounds are computed here rather than with `<`.
 */
export const compareKeys = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

/**
 * The key range of the strings that start with `prefix`: at or after `prefix`, and before
 * `end`, which is `prefix` with its last code point plus one (so "ab" gives ["ab", "ac")).
 * Null when the prefix has no such bound: it holds a lone surrogate, or only U+10FFFF, and
 * no stored key can start with either (keys are well-formed text; U+10FFFF is a noncharacter).
 */
export const prefixRange = (prefix: string): { readonly start: string; readonly end: string } | null => {
  if (!prefix.isWellFormed()) return null
  const points = [...prefix]
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!
    if (last < 0x10ffff) {
      // The next code point, skipping the surrogate block, which UTF-8 cannot hold.
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1
      return { start: prefix, end: points.join("") + String.fromCodePoint(next) }
    }
  }
  return null
}

/**
 * Where a page of keys starts: after `after` when given, and with `prefix` at or after the
 * prefix and before its end. `empty` when nothing can match (the cursor is past the range).
 * Cassandra accepts one lower bound per clustering column, so the two are merged here.
 */
export const keyBounds = (
  prefix: string,
  after: string | null
):
  | { readonly empty: true }
  | {
      readonly empty: false
      readonly lower: { readonly key: string; readonly inclusive: boolean } | null
      readonly upper: string | null
    } => {
  if (prefix === "")
    return { empty: false, lower: after === null ? null : { key: after, inclusive: false }, upper: null }
  const range = prefixRange(prefix)
  if (range === null) return { empty: true }
  if (after !== null && compareKeys(after, range.end) >= 0) return { empty: true }
  const lower =
    after !== null && compareKeys(after, range.start) >= 0
      ? { key: after, inclusive: false }
      : { key: range.start, inclusive: true }
  return { empty: false, lower, upper: range.end }
}
