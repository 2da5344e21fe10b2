import { Schema, SchemaIssue } from "effect"
import { describe, expect, it } from "vitest"
import { SignupRequest } from "../src/auth.ts"
import { ClientMsgId, CreateRoomRequest } from "../src/chat.ts"

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

describe("client_msg_id is valid Unicode", () => {
  it("a lone surrogate is refused with a clear message; any other character, emoji included, passes", () => {
    // Stored as U+FFFD, a lone surrogate would no longer match its own retry.
    for (const id of ["\ud800", "a\udc00b", "x\ud83d"]) {
      expect(firstIssue(ClientMsgId, id), JSON.stringify(id)).toMatch(/client_msg_id must be valid Unicode/)
    }
    for (const id of ["a", "😀", "client-1/été", "日本"]) expect(firstIssue(ClientMsgId, id), id).toBeNull()
  })
})
