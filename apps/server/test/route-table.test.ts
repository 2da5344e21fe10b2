/**
 * The 405 table (`http/route-table.ts`) against the API it is derived from: every declared
 * endpoint, at a concrete URL, allows its own method; HEAD goes with GET; unknown paths allow nothing.
 */
import { Api } from "@parley/domain"
import { HttpApi } from "effect/http-api"
import { describe, expect, it } from "vitest"
import { allowedMethods, openapiPath, webSocketPath } from "../src/http/route-table.ts"

const endpoints: Array<{ readonly method: string; readonly url: string }> = []
HttpApi.reflect(Api, {
  onGroup: () => {},
  onEndpoint: ({ endpoint }) =>
    endpoints.push({ method: endpoint.method, url: endpoint.path.replace(/:\w+/g, crypto.randomUUID()) })
})

describe("allowed methods", () => {
  it("allows every endpoint's method at its path, and HEAD wherever GET is", () => {
    expect(endpoints.length).toBeGreaterThan(30)
    for (const { method, url } of endpoints) {
      const allowed = allowedMethods(`${url}?limit=1`)
      expect(allowed, `${method} ${url}`).toContain(method)
      expect(allowed.includes("HEAD"), url).toBe(allowed.includes("GET"))
    }
    expect(allowedMethods(openapiPath)).toEqual(["GET", "HEAD"])
    expect(allowedMethods(webSocketPath)).toEqual(["GET", "HEAD"])
  })

  it("lists all of a path's methods, sorted, and nothing for a path no route has", () => {
    expect(allowedMethods("/api/chat/rooms")).toEqual(["GET", "HEAD", "POST"])
    expect(allowedMethods(`/api/chat/rooms/${crypto.randomUUID()}/members/${crypto.randomUUID()}`)).toEqual([
      "DELETE",
      "PUT"
    ])
    expect(allowedMethods("/login")).toEqual(["POST"])
    for (const path of ["/", "/metrics", "/nope", "/api/chat/rooms/x/y/z", "/healthz/x"]) {
      expect(allowedMethods(path), path).toEqual([])
    }
  })
})
