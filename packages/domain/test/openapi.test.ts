import { OpenApi } from "effect/http-api"
import { describe, expect, it } from "vitest"
import { Api } from "../src/api.ts"

/**
 * `/openapi.json` is generated from the schemas the server decodes with; these pin what it
 * says for the rules clients most depend on (issue 11). A check written so that Effect cannot
 * export it (a hand-made filter, a regex without the `u` flag, a check on the decoded side
 * of a transformation) drops out of the description and turns these red.
 */
const spec = OpenApi.fromApi(Api) as any
const operations = Object.entries(spec.paths).flatMap(([path, item]: [string, any]) =>
  Object.entries(item).map(([method, op]: [string, any]) => ({ name: `${method} ${path}`, op }))
)
const body = (name: string) => spec.components.schemas[`${name}Encoded`]
const param = (path: string, method: string, name: string) =>
  spec.paths[path][method].parameters.find((p: any) => p.name === name).schema

describe("/openapi.json", () => {
  it("declares every path id as format: uuid with the pattern the server checks", () => {
    const ids = operations.flatMap(({ name, op }) =>
      op.parameters.filter((p: any) => p.in === "path").map((p: any) => ({ at: `${name} ${p.name}`, schema: p.schema }))
    )
    expect(ids.length).toBeGreaterThan(20)
    for (const { at, schema } of ids) {
      expect(schema.format, at).toBe("uuid")
      expect(schema.pattern, at).toBeDefined()
    }
  })

  it("states the minimum and maximum lengths the server enforces", () => {
    const signup = body("SignupRequest").properties
    expect(signup.password).toMatchObject({ minLength: 8, maxLength: 1024 })
    expect(signup.username).toMatchObject({ minLength: 3, maxLength: 32 })
    expect(body("LoginRequest").properties.password).toMatchObject({ minLength: 8, maxLength: 1024 })
    expect(body("PostMessageRequest").properties.content).toMatchObject({ minLength: 1, maxLength: 4000 })
    const pattern = (schema: any): Array<string> => [
      ...(schema.pattern ? [schema.pattern] : []),
      ...(schema.allOf ?? []).flatMap(pattern)
    ]
    const namePatterns = pattern(body("CreateRoomRequest").properties.name).map((p) => new RegExp(p, "u"))
    expect(namePatterns.length).toBeGreaterThan(0)
    const described = (name: string) => namePatterns.every((p) => p.test(name))
    expect(["", "   ", "x".repeat(101), "ro\u202eom"].map(described)).toEqual([false, false, false, false])
    expect([" general ", "café ☕", "x".repeat(100)].map(described)).toEqual([true, true, true])
  })

  it("declares limit, before and after as the server reads them", () => {
    const path = "/api/chat/rooms/{room_id}/messages"
    const limit = new RegExp(param(path, "get", "limit").pattern, "u")
    expect(["1", "50", "100"].every((v) => limit.test(v))).toBe(true)
    expect(["0", "101", "01", "1e1", "0x10", " 1", "-1"].some((v) => limit.test(v))).toBe(false)
    for (const cursor of ["before", "after"]) {
      const schema = param(path, "get", cursor)
      expect(schema.format).toBe("uuid")
      // Message ids are TIMEUUIDs: version 1 only.
      expect(new RegExp(schema.pattern, "u").test("8f0e4c40-ee2a-11f1-8000-000000000000")).toBe(true)
      expect(new RegExp(schema.pattern, "u").test("8f0e4c40-ee2a-41f1-8000-000000000000")).toBe(false)
    }
  })

  it("closes request bodies (additionalProperties: false), which the server enforces with 400", () => {
    for (const name of [
      "SignupRequest",
      "LoginRequest",
      "CreateRoomRequest",
      "PostMessageRequest",
      "AddMemberRequest"
    ]) {
      expect(body(name).additionalProperties, name).toBe(false)
    }
  })
})
