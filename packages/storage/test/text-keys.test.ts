import { describe, expect, it } from "vitest"
import { compareKeys, keyBounds, prefixRange } from "../src/text-keys.ts"

describe("text keys", () => {
  it("orders by code point, as UTF-8 bytes do, not by UTF-16 unit", () => {
    // U+FF5E is one UTF-16 unit above the surrogates U+1F600 is made of, yet below it.
    expect(compareKeys("\uff5e", "\u{1f600}")).toBeLessThan(0)
    expect("\uff5e" < "\u{1f600}").toBe(false)
    expect(compareKeys("ab", "ab")).toBe(0)
    expect(compareKeys("ab", "abc")).toBeLessThan(0)
  })

  it("bounds a prefix by its last code point plus one", () => {
    expect(prefixRange("ab")).toEqual({ start: "ab", end: "ac" })
    expect(prefixRange("a\u{10ffff}")).toEqual({ start: "a\u{10ffff}", end: "b" })
    expect(prefixRange("x\ud7ff")).toEqual({ start: "x\ud7ff", end: "x\ue000" })
    expect(prefixRange("a\u{1f600}")).toEqual({ start: "a\u{1f600}", end: "a\u{1f601}" })
    expect(prefixRange("\u{10ffff}")).toBeNull()
    expect(prefixRange("a\ud800")).toBeNull()
  })

  it("merges the cursor and the prefix into one lower bound", () => {
    expect(keyBounds("", null)).toEqual({ empty: false, lower: null, upper: null })
    expect(keyBounds("", "k")).toEqual({ empty: false, lower: { key: "k", inclusive: false }, upper: null })
    expect(keyBounds("ab", null)).toEqual({ empty: false, lower: { key: "ab", inclusive: true }, upper: "ac" })
    expect(keyBounds("ab", "aa")).toEqual({ empty: false, lower: { key: "ab", inclusive: true }, upper: "ac" })
    expect(keyBounds("ab", "ab")).toEqual({ empty: false, lower: { key: "ab", inclusive: false }, upper: "ac" })
    expect(keyBounds("ab", "abz")).toEqual({ empty: false, lower: { key: "abz", inclusive: false }, upper: "ac" })
    expect(keyBounds("ab", "ac")).toEqual({ empty: true })
    expect(keyBounds("\u{10ffff}", null)).toEqual({ empty: true })
  })
})
