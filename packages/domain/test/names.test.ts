import { Schema, SchemaIssue } from "effect"
import { describe, expect, it } from "vitest"
import { SignupRequest } from "../src/auth.ts"
import { CreateRoomRequest } from "../src/chat.ts"

const firstIssue = (schema: Schema.Top, input: unknown) => {
  const result = Schema.decodeUnknownResult(schema as any)(input)
  if (result._tag === "Success") return null
  return SchemaIssue.makeFormatterStandardSchemaV1()(result.failure.issue).issues[0]?.message ?? "?"
}

/** Control (Cc) and invisible formatting (Cf) characters: ESC, NUL, DEL, C1, bidi overrides, zero-width. */
const hostile = ["\u001b[31m", "\u0000", "\u007f", "\u0085", "\u202e", "\u2066", "\u200b", "\u200d", "\ufeff"]

describe("names refuse control and formatting characters", () => {
  it("room names: a clear message for every Cc/Cf character, anywhere in the name", () => {
    for (const c of hostile) {
      expect(firstIssue(CreateRoomRequest, { name: `ro${c}om` }), JSON.stringify(c)).toMatch(
        /room name must not contain control or invisible formatting characters/
      )
    }
    expect(firstIssue(CreateRoomRequest, { name: "café ☕ 日本" })).toBeNull()
  })

  it("usernames: a clear message for every Cc/Cf character", () => {
    for (const c of hostile) {
      const input = { username: `ad${c}a`, email: "ada@example.com", password: "secret12" }
      expect(firstIssue(SignupRequest, input), JSON.stringify(c)).toMatch(
        /username must not contain control or invisible formatting characters/
      )
    }
    expect(
      firstIssue(SignupRequest, { username: "ada_l-1.x", email: "ada@example.com", password: "secret12" })
    ).toBeNull()
  })
})
