import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { Overloaded, SendUnavailableResponse, ServiceUnavailable, ServiceUnavailableResponse } from "../src/errors.ts"

const body = (code: string, message: string) => ({ error: { code, message } })

describe("ServiceUnavailable over HTTP: Retry-After when there is a hint", () => {
  it("a hint becomes the Retry-After header, and comes back from it", () => {
    const error = new ServiceUnavailable({ retryAfterSeconds: 2 })
    for (const schema of [ServiceUnavailableResponse, SendUnavailableResponse]) {
      const encoded = Schema.encodeSync(schema as typeof ServiceUnavailableResponse)(error)
      expect(encoded).toEqual({
        headers: { "retry-after": "2" },
        body: body("service_unavailable", "a dependency is unavailable; try again shortly")
      })
      const decoded = Schema.decodeSync(schema as typeof ServiceUnavailableResponse)(encoded)
      expect(decoded).toBeInstanceOf(ServiceUnavailable)
      expect(decoded.retryAfterSeconds).toBe(2)
    }
  })

  it("no hint, no header; `new ServiceUnavailable()` still means the plain 503", () => {
    const encoded = Schema.encodeSync(ServiceUnavailableResponse)(new ServiceUnavailable())
    expect(encoded).toEqual({ headers: {}, body: body("service_unavailable", expect.any(String)) })
  })

  it("a send's overloaded 503 keeps its own code, without a header", () => {
    const encoded = Schema.encodeSync(SendUnavailableResponse)(new Overloaded())
    expect(encoded).toEqual({ headers: {}, body: body("overloaded", "the room is overloaded; retry shortly") })
    expect(Schema.decodeSync(SendUnavailableResponse)(encoded)).toBeInstanceOf(Overloaded)
  })
})
