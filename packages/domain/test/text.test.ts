import { describe, expect, it } from "vitest"
import { controlOrFormatRanges, trimmedRanges } from "../src/text.ts"

/** Every code point for which `test` holds, as inclusive ranges. */
const rangesOf = (test: (s: string) => boolean) => {
  const ranges: Array<[number, number]> = []
  for (let c = 0; c <= 0x10ffff; c++) {
    if (!test(String.fromCodePoint(c))) continue
    const last = ranges[ranges.length - 1]
    if (last !== undefined && last[1] === c - 1) last[1] = c
    else ranges.push([c, c])
  }
  return ranges
}

describe("the character lists behind the exported patterns", () => {
  it("control-or-format is exactly Unicode Cc and Cf", () => {
    expect(controlOrFormatRanges).toEqual(rangesOf((s) => /[\p{Cc}\p{Cf}]/u.test(s)))
  })

  it("the whitespace list is exactly what String.prototype.trim removes", () => {
    expect(trimmedRanges).toEqual(rangesOf((s) => s.trim() === ""))
  })
})
