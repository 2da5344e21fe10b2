import { Cause, Clock, Context, Effect, Exit, Option, type Types } from "effect"
import { Headers, HttpRouter, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import { allowedMethods, webSocketPath } from "./route-table.ts"

/** Codes for the errors that the router or the body reader raise before any handler runs. */
const codeByStatus: Record<number, readonly [code: string, message: string]> = {
  400: ["invalid_request", "the request is malformed"],
  401: ["unauthorized", "missing, invalid or expired access token"],
  403: ["forbidden", "you are not allowed to do that"],
  404: ["not_found", "not found"],
  405: ["method_not_allowed", "method not allowed"],
  413: ["payload_too_large", "the request body is too large"],
  415: ["unsupported_media_type", "send JSON with Content-Type: application/json"],
  429: ["rate_limited", "too many requests; slow down"],
  500: ["internal", "internal server error"],
  503: ["service_unavailable", "a dependency is unavailable; try again shortly"]
}

/**
 * On every response, errors included. The server serves no HTML, but a browser that is
 * somehow shown a response must not sniff it into a script, frame it or leak the URL as a
 * referrer. Every response is per-caller and live (tokens, sessions, messages, health), so
 * none may be kept by a browser or a shared cache: `no-store` unless a handler says otherwise.
 */
export const securityHeaders: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "content-security-policy": "frame-ancestors 'none'"
}

const isRouteNotFound = (cause: Cause.Cause<unknown>) =>
  Option.exists(
    Cause.findErrorOption(cause),
    (error) => HttpServerError.isHttpServerError(error) && error.reason._tag === "RouteNotFound"
  )

/**
 * The router found no route for this method and path. When the path has routes for other
 * methods: 405 with `Allow` (RFC 9110 §15.5.6); a plain GET of `/ws` lacked its upgrade: 426.
 * Otherwise null, and the 404 stands. OPTIONS is one of those other methods: no CORS here.
 */
const unroutable = (request: HttpServerRequest.HttpServerRequest): HttpServerResponse.HttpServerResponse | null => {
  const allowed = allowedMethods(request.url)
  if (allowed.length === 0) return null
  if (allowed.includes(request.method)) {
    return request.method === "GET" && request.url.split("?")[0] === webSocketPath
      ? HttpServerResponse.jsonUnsafe(
          { error: { code: "upgrade_required", message: "open /ws as a WebSocket (Upgrade: websocket)" } },
          { status: 426, headers: { upgrade: "websocket" } }
        )
      : null
  }
  return HttpServerResponse.jsonUnsafe(
    {
      error: { code: "method_not_allowed", message: `${request.method} is not allowed here; use ${allowed.join(", ")}` }
    },
    { status: 405, headers: { allow: allowed.join(", ") } }
  )
}

const incomingId = /^[A-Za-z0-9._:-]{1,64}$/

/**
 * The id of the request being handled (the one on its `x-request-id` response header), for
 * handlers that record it, such as the admin audit log; null outside an HTTP request.
 */
export const CurrentRequestId = Context.Reference<string | null>("parley/server/http/CurrentRequestId", {
  defaultValue: () => null
})

/**
 * Around every request: a request id (the caller's `x-request-id` if sane, else new)
 * on the response and on every log line; a JSON `{"error": {code, message}}` body for
 * error responses that lack one (unknown route, oversized or unparsable body, 415); a 500
 * whose cause is logged, never sent; and one access-log line without the query string,
 * which may carry a token. A method the path does not declare gets 405 with `Allow`; every
 * response gets the security headers above.
 */
export const RequestContext = HttpRouter.middleware(
  (app) =>
    // Handles every failure; typed as passing `unhandled` on because the router insists.
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const header = request.headers["x-request-id"]
      const requestId = header !== undefined && incomingId.test(header) ? header : crypto.randomUUID()
      // On the request's server span too, so a trace is found from the id a client reports.
      yield* Effect.annotateCurrentSpan("request_id", requestId)
      const started = yield* Clock.currentTimeMillis
      return yield* Effect.gen(function* () {
        const exit = yield* Effect.exit(Effect.provideService(app, CurrentRequestId, requestId))
        let response: HttpServerResponse.HttpServerResponse
        if (Exit.isSuccess(exit)) {
          response = exit.value
        } else {
          const [failed, cause] = yield* HttpServerError.causeResponse(exit.cause)
          response = (isRouteNotFound(exit.cause) ? unroutable(request) : null) ?? failed
          if (failed.status >= 500) yield* Effect.logError("request failed", cause)
        }
        // Errors raised below the API (unknown route, unreadable body, 415) come empty or as
        // plain text; every error leaves in the one JSON shape.
        const json = response.body._tag !== "Empty" && (response.body.contentType ?? "").startsWith("application/json")
        if (response.status >= 400 && !json) {
          const [code, message] = codeByStatus[response.status] ?? ["error", "request failed"]
          response = HttpServerResponse.jsonUnsafe(
            { error: { code, message: response.status >= 500 ? `${message} (request id ${requestId})` : message } },
            { status: response.status, headers: Headers.remove(response.headers, "content-type") }
          )
        }
        yield* Effect.logInfo("http").pipe(
          Effect.annotateLogs({
            method: request.method,
            path: request.url.split("?")[0],
            status: response.status,
            duration_ms: (yield* Clock.currentTimeMillis) - started
          })
        )
        if (response.headers["cache-control"] === undefined) {
          response = HttpServerResponse.setHeader(response, "cache-control", "no-store")
        }
        return HttpServerResponse.setHeaders(response, { ...securityHeaders, "x-request-id": requestId })
      }).pipe(Effect.annotateLogs({ request_id: requestId }))
    }) as Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled, HttpServerRequest.HttpServerRequest>,
  { global: true }
)
