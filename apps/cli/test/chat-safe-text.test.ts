import { describe, expect, it } from "vitest"
import { hasUnsafeChars, safeJson, safeMultiline, safeText } from "../src/shared/safe-text.ts"

const rawControl = /[\p{Cc}\p{Cf}\u2028\u2029]/u

describe("safe-text", () => {
  it("escapes ESC sequences, C1 controls and bidi overrides in names", () => {
    expect(safeText("ev\x1b[2Jil")).toBe("ev\\x1b[2Jil")
    expect(safeText("a\x9bb\x7f")).toBe("a\\x9bb\\x7f")
    expect(safeText("gnp.\u202eexe")).toBe("gnp.\\u202eexe")
    expect(safeText("zero\u200bwidth\u2028")).toBe("zero\\u200bwidth\\u2028")
    expect(safeText("tag\u{e0041}")).toBe("tag\\u{e0041}")
    expect(safeText("line\nbreak\ttab")).toBe("line\\x0abreak\\x09tab")
    expect(safeText("plain ünïcødé 👋")).toBe("plain ünïcødé 👋")
  })

  it("keeps newlines and expands tabs in messages, escaping everything else", () => {
    expect(safeMultiline("a\tb\r\nab\tc")).toBe("a       b\nab      c")
    expect(safeMultiline("x\ry\x1b]52;c;AAAA\x07")).toBe("x\\x0dy\\x1b]52;c;AAAA\\x07")
    const hostile = safeMultiline("\x1b[31mred\u202e\u2066\x00\x85")
    expect(rawControl.test(hostile.replace(/\n/g, ""))).toBe(false)
  })

  it("says whether a string holds anything unsafe", () => {
    expect(hasUnsafeChars("fine")).toBe(false)
    expect(hasUnsafeChars("no\u202efine")).toBe(true)
  })

  it("writes JSON that parses back to the same value with no raw controls", () => {
    const value = { name: "a\u202eb\x1b\x9b\u{e0041}", n: 1 }
    const text = safeJson(value)
    expect(rawControl.test(text.replace(/\n/g, ""))).toBe(false)
    expect(JSON.parse(text)).toEqual(value)
  })
})
