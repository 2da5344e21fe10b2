import { Effect, Schema } from "effect"
import { HttpApiSchema } from "effect/http-api"

/**
 * Every error the API returns has one wire shape, `{"error": {"code", "message"}}`,
 * with the HTTP status carried by the class. `code` is stable and machine-readable;
 * `message` is for people. Each class also has a `_tag` so Effect code can catch it.
 * `new UsernameTaken()` uses the default message; pass `{ error: { code, message } }` to override.
 */
const errorBody = <Code extends string>(code: Code, defaultMessage: string) =>
  Schema.Struct({
    error: Schema.Struct({ code: Schema.Literal(code), message: Schema.String }).pipe(
      Schema.withConstructorDefault(Effect.succeed({ code, message: defaultMessage }))
    )
  })

export class InvalidRequest extends Schema.Error<InvalidRequest>("parley/InvalidRequest")(
  errorBody("invalid_request", "the request is malformed"),
  {
    httpApiStatus: 400
  }
) {
  readonly _tag = "InvalidRequest"
}

/**
 * A new password (signup) the password policy refuses: one of the most common passwords, or
 * nothing but whitespace and invisible characters. The message says which rule.
 */
export class WeakPassword extends Schema.Error<WeakPassword>("parley/WeakPassword")(
  errorBody("weak_password", "that password is too weak; choose another"),
  {
    httpApiStatus: 400
  }
) {
  readonly _tag = "WeakPassword"
}

export class UsernameTaken extends Schema.Error<UsernameTaken>("parley/UsernameTaken")(
  errorBody("username_taken", "that username is taken"),
  {
    httpApiStatus: 409
  }
) {
  readonly _tag = "UsernameTaken"
}

export class EmailRegistered extends Schema.Error<EmailRegistered>("parley/EmailRegistered")(
  errorBody("email_registered", "that email is already registered"),
  {
    httpApiStatus: 409
  }
) {
  readonly _tag = "EmailRegistered"
}

/** One message for unknown user and wrong password alike, so it reveals nothing. */
export class InvalidCredentials extends Schema.Error<InvalidCredentials>("parley/InvalidCredentials")(
  errorBody("invalid_credentials", "invalid username/email or password"),
  {
    httpApiStatus: 401
  }
) {
  readonly _tag = "InvalidCredentials"
}

export class Unauthorized extends Schema.Error<Unauthorized>("parley/Unauthorized")(
  errorBody("unauthorized", "missing, invalid or expired access token"),
  {
    httpApiStatus: 401
  }
) {
  readonly _tag = "Unauthorized"
}

export class InvalidRefreshToken extends Schema.Error<InvalidRefreshToken>("parley/InvalidRefreshToken")(
  errorBody("invalid_refresh_token", "the refresh token is invalid, expired or revoked"),
  {
    httpApiStatus: 401
  }
) {
  readonly _tag = "InvalidRefreshToken"
}

export class Forbidden extends Schema.Error<Forbidden>("parley/Forbidden")(
  errorBody("forbidden", "you are not allowed to do that"),
  {
    httpApiStatus: 403
  }
) {
  readonly _tag = "Forbidden"
}

export class NotFound extends Schema.Error<NotFound>("parley/NotFound")(errorBody("not_found", "not found"), {
  httpApiStatus: 404
}) {
  readonly _tag = "NotFound"
}

/** Something only members of a room may do (moving a read marker), in a public room one has not joined. */
export class NotMember extends Schema.Error<NotMember>("parley/NotMember")(
  errorBody("not_member", "join the room first"),
  { httpApiStatus: 403 }
) {
  readonly _tag = "NotMember"
}

export class PayloadTooLarge extends Schema.Error<PayloadTooLarge>("parley/PayloadTooLarge")(
  errorBody("payload_too_large", "the request body is too large"),
  {
    httpApiStatus: 413
  }
) {
  readonly _tag = "PayloadTooLarge"
}

const serviceUnavailableBody = errorBody("service_unavailable", "a dependency is unavailable; try again shortly")

/**
 * 503. `retryAfterSeconds`, when known (a room between two owners), becomes `Retry-After`
 * (whole seconds) over HTTP and is named in the WebSocket error's message.
 */
export class ServiceUnavailable extends Schema.Error<ServiceUnavailable>("parley/ServiceUnavailable")(
  { ...serviceUnavailableBody.fields, retryAfterSeconds: Schema.optionalKey(Schema.Int) },
  {
    httpApiStatus: 503
  }
) {
  readonly _tag = "ServiceUnavailable"
}

/** How the API sends `ServiceUnavailable`: the usual error body, plus `Retry-After` when there is a hint. */
export const ServiceUnavailableResponse = ServiceUnavailable.pipe(
  HttpApiSchema.encodeToWithHeaders(
    {
      body: serviceUnavailableBody.annotate({ httpApiStatus: 503 }),
      headers: { "retry-after": Schema.optionalKey(Schema.NumberFromString) }
    },
    {
      decode: ({ body, headers }) =>
        new ServiceUnavailable({
          error: body.error,
          ...(headers["retry-after"] === undefined ? {} : { retryAfterSeconds: headers["retry-after"] })
        }),
      encode: (error) => ({
        headers: error.retryAfterSeconds === undefined ? {} : { "retry-after": error.retryAfterSeconds },
        body: { error: error.error }
      })
    }
  )
)

export class InternalError extends Schema.Error<InternalError>("parley/InternalError")(
  errorBody("internal", "internal server error"),
  {
    httpApiStatus: 500
  }
) {
  readonly _tag = "InternalError"
}

/** 429 with `Retry-After` (whole seconds, rounded up). */
export class RateLimited extends Schema.Error<RateLimited>("parley/RateLimited")({
  retryAfterSeconds: Schema.Int
}) {
  readonly _tag = "RateLimited"
  override get message(): string {
    return "too many requests; slow down"
  }
}

export const RateLimitedResponse = RateLimited.pipe(
  HttpApiSchema.encodeToWithHeaders(
    {
      body: errorBody("rate_limited", "too many requests; slow down").annotate({ httpApiStatus: 429 }),
      headers: { "retry-after": Schema.NumberFromString }
    },
    {
      decode: ({ headers }) => new RateLimited({ retryAfterSeconds: headers["retry-after"] }),
      encode: (error) => ({
        headers: { "retry-after": error.retryAfterSeconds },
        body: { error: { code: "rate_limited" as const, message: error.message } }
      })
    }
  )
)

/** `/readyz` when a dependency is down: names each dependency and its state. */
export const DependencyStatus = Schema.Record(Schema.String, Schema.Literals(["up", "down"]))

export class NotReady extends Schema.Error<NotReady>("parley/NotReady")(
  {
    error: Schema.Struct({ code: Schema.Literal("not_ready"), message: Schema.String }),
    checks: DependencyStatus
  },
  { httpApiStatus: 503 }
) {
  readonly _tag = "NotReady"
}

/** The room is taking messages faster than it can store them; retry after a short pause. */
const overloadedBody = errorBody("overloaded", "the room is overloaded; retry shortly")

export class Overloaded extends Schema.Error<Overloaded>("parley/Overloaded")(overloadedBody, {
  httpApiStatus: 503
}) {
  readonly _tag = "Overloaded"
}

/**
 * A send's two 503s in one response (HTTP allows one 503 with headers per endpoint):
 * `overloaded`, or `service_unavailable` with `Retry-After` when there is a hint.
 */
export const SendUnavailableResponse = Schema.Union([ServiceUnavailable, Overloaded]).pipe(
  HttpApiSchema.encodeToWithHeaders(
    {
      body: Schema.Union([serviceUnavailableBody, overloadedBody]).annotate({ httpApiStatus: 503 }),
      headers: { "retry-after": Schema.optionalKey(Schema.NumberFromString) }
    },
    {
      decode: ({ body, headers }) =>
        body.error.code === "overloaded"
          ? new Overloaded({ error: body.error })
          : new ServiceUnavailable({
              error: body.error,
              ...(headers["retry-after"] === undefined ? {} : { retryAfterSeconds: headers["retry-after"] })
            }),
      encode: (error) =>
        error._tag === "Overloaded"
          ? { headers: {}, body: { error: error.error } }
          : {
              headers: error.retryAfterSeconds === undefined ? {} : { "retry-after": error.retryAfterSeconds },
              body: { error: error.error }
            }
    }
  )
)
