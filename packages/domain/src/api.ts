/**
 * The HTTP API, declared once. The server implements it, clients and tests derive
 * typed clients from it, and `/openapi.json` is generated from it.
 */
import { Context, Schema } from "effect"
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "effect/http-api"
import { LoginRequest, RefreshRequest, SessionList, SignupRequest, TokenResponse } from "./auth.ts"
import {
  DependencyStatus,
  EmailRegistered,
  Forbidden,
  InternalError,
  InvalidCredentials,
  InvalidRefreshToken,
  InvalidRequest,
  NotFound,
  NotReady,
  RateLimitedResponse,
  ServiceUnavailable,
  Unauthorized,
  UsernameTaken
} from "./errors.ts"
import { SessionId, type UserId } from "./ids.ts"
import { UserView } from "./user.ts"

/** Who is calling: set by the `Authorization` middleware for bearer-protected endpoints. */
export class CurrentUser extends Context.Service<
  CurrentUser,
  {
    readonly userId: UserId
    readonly sessionId: SessionId
    readonly user: UserView
  }
>()("parley/domain/CurrentUser") {}

export class Authorization extends HttpApiMiddleware.Service<Authorization, { provides: CurrentUser }>()(
  "parley/domain/Authorization",
  {
    security: { bearer: HttpApiSecurity.bearer },
    error: [Unauthorized, ServiceUnavailable]
  }
) {}

/** Renders any request that fails schema decoding as a 400 `invalid_request` naming the problem. */
export class RequestValidation extends HttpApiMiddleware.Service<RequestValidation>()(
  "parley/domain/RequestValidation",
  {
    error: [InvalidRequest, InternalError]
  }
) {}

export class Health extends Schema.Class<Health>("Health")({ status: Schema.Literal("ok") }) {}
export class Ready extends Schema.Class<Ready>("Ready")({
  status: Schema.Literal("ready"),
  checks: DependencyStatus
}) {}

export class SystemGroup extends HttpApiGroup.make("system", { topLevel: true }).add(
  HttpApiEndpoint.get("healthz", "/healthz", { success: Health }),
  HttpApiEndpoint.get("readyz", "/readyz", { success: Ready, error: NotReady })
) {}

export class AuthGroup extends HttpApiGroup.make("auth").add(
  HttpApiEndpoint.post("signup", "/signup", {
    payload: SignupRequest,
    success: UserView.pipe(HttpApiSchema.status(201)),
    error: [UsernameTaken, EmailRegistered, RateLimitedResponse, ServiceUnavailable]
  }),
  HttpApiEndpoint.post("login", "/login", {
    payload: LoginRequest,
    success: TokenResponse,
    error: [InvalidCredentials, Forbidden, RateLimitedResponse, ServiceUnavailable]
  }),
  // Authenticated by the refresh token alone, so it works after the access token expired.
  HttpApiEndpoint.post("refresh", "/api/refresh", {
    payload: RefreshRequest,
    success: TokenResponse,
    error: [InvalidRefreshToken, RateLimitedResponse, ServiceUnavailable]
  })
) {}

export class AccountGroup extends HttpApiGroup.make("account")
  .add(
    HttpApiEndpoint.get("profile", "/api/profile", { success: UserView }),
    HttpApiEndpoint.get("me", "/api/me", { success: UserView }),
    HttpApiEndpoint.post("logout", "/api/logout", {
      payload: RefreshRequest,
      success: HttpApiSchema.NoContent,
      error: InvalidRefreshToken
    }),
    HttpApiEndpoint.get("listSessions", "/api/sessions", { success: SessionList }),
    HttpApiEndpoint.delete("revokeSession", "/api/sessions/:id", {
      params: { id: SessionId },
      success: HttpApiSchema.NoContent,
      error: [NotFound, Forbidden]
    })
  )
  .middleware(Authorization) {}

export class Api extends HttpApi.make("parley")
  .add(SystemGroup)
  .add(AuthGroup)
  .add(AccountGroup)
  .middleware(RequestValidation)
  .annotateMerge(
    OpenApi.annotations({
      title: "Parley",
      description: 'Accounts, sessions, rooms and messages. Errors are {"error": {"code", "message"}}.'
    })
  ) {}
