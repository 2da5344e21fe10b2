import { Clock, Context, Effect, Exit, type Types } from "effect"
import { Headers, HttpRouter, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"

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
 * which may carry a token.
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
          response = failed
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
        return HttpServerResponse.setHeader(response, "x-request-id", requestId)
      }).pipe(Effect.annotateLogs({ request_id: requestId }))
    }) as Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled, HttpServerRequest.HttpServerRequest>,
  { global: true }
)
