import { InternalError, InvalidRequest, RequestValidation } from "@parley/domain"
import { Effect, SchemaIssue } from "effect"
import { HttpApiMiddleware } from "effect/http-api"

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * A request that fails decoding becomes 400 `invalid_request` naming the first offending
 * field, e.g. `payload.password: password must be at least 8 characters`. A response that
 * fails encoding is our bug: logged, answered 500.
 */
export const RequestValidationLive = HttpApiMiddleware.layerSchemaErrorTransform(RequestValidation, (error) => {
  if (error.kind === "Body" || error.kind === "ResponseHeaders") {
    return Effect.andThen(Effect.logError("response encoding failed", error.cause), Effect.fail(new InternalError()))
  }
  const issue = formatIssues(error.cause.issue).issues[0]
  const path = [error.kind.toLowerCase(), ...(issue?.path ?? []).map((p) => String(typeof p === "object" ? p.key : p))]
  const message = issue === undefined ? "the request is malformed" : `${path.join(".")}: ${issue.message}`
  return Effect.fail(new InvalidRequest({ error: { code: "invalid_request", message } }))
})
