import { Api, Forbidden, InvalidRefreshToken } from "@parley/domain"
import { Effect, Option } from "effect"
import { HttpServerRequest } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { AccessTokens } from "../../auth/access-tokens.ts"
import { Accounts } from "../../auth/accounts.ts"
import { loginLimitKey } from "../../auth/login-account.ts"
import { RateLimits } from "../../ratelimit/limits.ts"
import { clientInfo } from "../client-info.ts"

/** Endpoints that need no access token: signup, login, and refresh (the refresh token is the credential). */
export const AuthHandlers = (options: { readonly trustProxy: number }) =>
  HttpApiBuilder.group(
    Api,
    "auth",
    Effect.fn(function* (handlers) {
      const accounts = yield* Accounts
      const limits = yield* RateLimits
      const tokens = yield* AccessTokens
      const client = clientInfo(options.trustProxy)

      /** A Bearer sent along with a refresh must be the same user's; it may have expired. */
      const bearerUser = Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const header = request.headers.authorization
        if (header === undefined) return Option.none()
        const token = /^Bearer (.+)$/i.exec(header)?.[1]
        if (token === undefined) return yield* new InvalidRefreshToken()
        const claims = yield* tokens.verifyIgnoringExpiry(token).pipe(Effect.mapError(() => new InvalidRefreshToken()))
        return Option.some(claims.sub)
      })

      return handlers
        .handle("signup", ({ payload }) =>
          Effect.gen(function* () {
            const { ip } = yield* client
            yield* limits.signup(ip ?? "unknown")
            return yield* accounts.signup(payload)
          })
        )
        .handle("login", ({ payload }) =>
          Effect.gen(function* () {
            const info = yield* client
            const account = yield* accounts.findLoginAccount(payload.email_or_username)
            const attempt = yield* limits.login(info.ip ?? "unknown", loginLimitKey(payload.email_or_username, account))
            // A disabled account's 403 comes only after its password was found right.
            const response = yield* accounts
              .login(payload, info, account)
              .pipe(Effect.tapError((error) => (error instanceof Forbidden ? attempt.passwordAccepted : Effect.void)))
            yield* attempt.passwordAccepted
            return response
          })
        )
        .handle("refresh", ({ payload }) =>
          Effect.gen(function* () {
            const { ip } = yield* client
            yield* limits.refresh(ip ?? "unknown")
            return yield* accounts.refresh(payload.refresh_token, yield* bearerUser)
          })
        )
    })
  )
