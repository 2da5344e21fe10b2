import { describe, expect, it } from "vitest"
import { displayWidth, emit, keyValues, shortTime, table } from "../src/admin/render.ts"
import { fakeIo } from "./admin-fakes.ts"

const rawControl = /[\p{Cc}\p{Cf}]/u

describe("tables", () => {
  it("aligns columns under upper-case headers, two spaces apart, without trailing spaces", () => {
    const rows = [
      { name: "alice", role: "admin", note: "" },
      { name: "bo", role: "user", note: "x" }
    ]
    const text = table(rows, [
      { header: "NAME", value: (r) => r.name },
      { header: "ROLE", value: (r) => r.role },
      { header: "NOTE", value: (r) => r.note }
    ])
    expect(text).toBe("NAME   ROLE   NOTE\nalice  admin\nbo     user   x\n")
  })

  it("escapes control and bidi characters in cells, so a hostile name cannot act on the terminal", () => {
    const hostile = [{ name: "ev\x1b[2J\x1b]52;c;AAAA\x07il\u202eexe.txt", role: "user\nadmin" }]
    const text = table(hostile, [
      { header: "NAME", value: (r) => r.name },
      { header: "ROLE", value: (r) => r.role }
    ])
    expect(text.slice(0, -1).split("\n")).toHaveLength(2) // a header and one row: no injected line
    expect(rawControl.test(text.replace(/\n/g, ""))).toBe(false)
    expect(text).toContain("ev\\x1b[2J\\x1b]52;c;AAAA\\x07il\\u202eexe.txt")
  })

  it("counts wide characters as two columns and cuts long cells with an ellipsis", () => {
    expect(displayWidth("日本")).toBe(4)
    expect(displayWidth("e\u0301")).toBe(1)
    const text = table(
      [
        { a: "日本", b: "1" },
        { a: "abc", b: "2" }
      ],
      [
        { header: "A", value: (r) => r.a },
        { header: "B", value: (r) => r.b }
      ]
    )
    expect(text).toBe("A     B\n日本  1\nabc   2\n")
    const cut = table([{ a: "abcdefghij" }], [{ header: "A", value: (r) => r.a, max: 5 }])
    expect(cut).toBe("A\nabcd…\n")
  })

  it("aligns key/value blocks and escapes values", () => {
    expect(
      keyValues([
        ["id", "1"],
        ["username", "bad\x1bname"]
      ])
    ).toBe("id:        1\nusername:  bad\\x1bname\n")
  })

  it("shortens ISO times to the second", () => {
    expect(shortTime("2026-12-01T10:22:03.512Z")).toBe("2026-12-01 10:22:03Z")
    expect(shortTime("not a time")).toBe("not a time")
  })
})

describe("--json", () => {
  it("prints exactly one JSON document that parses back to the data, with no raw controls", () => {
    const recorded = fakeIo()
    const data = { users: [{ username: "a\u202eb\x1b[31m" }], next_cursor: null }
    emit(recorded.io, true, data, () => "table")
    const out = recorded.out()
    expect(JSON.parse(out)).toEqual(data)
    expect(rawControl.test(out.replace(/\n/g, ""))).toBe(false)
  })

  it("prints the rendering without --json", () => {
    const recorded = fakeIo()
    emit(recorded.io, undefined, { n: 1 }, (d) => `n is ${d.n}\n`)
    expect(recorded.out()).toBe("n is 1\n")
  })
})
