/**
 * Which methods each path answers, for a 405's `Allow` header. Built from the same
 * definitions the router is built from (the HttpApi, the OpenAPI document's path and `/ws`),
 * with the router's own path matcher, so a route added to the API is allowed here at once.
 */
import { Api } from "@parley/domain"
import { FindMyWay } from "effect/http"
import { HttpApi } from "effect/http-api"

/** Where the server serves its generated OpenAPI document (passed to `HttpApiBuilder.layer`). */
export const openapiPath = "/openapi.json"

/** The WebSocket endpoint: a GET with `Upgrade: websocket`, answered outside the router. */
export const webSocketPath = "/ws"

// Every endpoint path is `:name` params whose names the endpoint declares, which the
// router takes as written (no regex suffix needed): the matcher sees the same path.
const table = FindMyWay.make<string>()
const declared = new Set<string>()
const declare = (method: string, path: string) => {
  declared.add(method)
  table.on(method, path as FindMyWay.PathInput, method)
}
HttpApi.reflect(Api, {
  onGroup: () => {},
  onEndpoint: ({ endpoint }) => declare(endpoint.method, endpoint.path)
})
declare("GET", openapiPath)
declare("GET", webSocketPath)

/**
 * The methods `url`'s path answers, in a stable order (HEAD wherever GET is, as the router
 * answers it with the GET route), or an empty list when no route has that path at all.
 */
export const allowedMethods = (url: string): ReadonlyArray<string> => {
  const allowed: Array<string> = []
  for (const method of declared) if (table.find(method, url) !== undefined) allowed.push(method)
  if (allowed.includes("GET")) allowed.push("HEAD")
  return allowed.sort()
}
