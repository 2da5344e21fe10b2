import { Authorization, CurrentUser } from "@parley/domain"
import { Effect, Layer, Redacted } from "effect"
import { Accounts } from "../auth/accounts.ts"

/** Bearer-protected endpoints: a valid access token of a live session of an enabled user. */
export const AuthorizationLive = Layer.effect(
  Authorization,
  Effect.gen(function* () {
    const accounts = yield* Accounts
    return Authorization.of({
      bearer: (httpEffect, { credential }) =>
        Effect.flatMap(accounts.authenticate(Redacted.value(credential)), (caller) =>
          Effect.provideService(httpEffect, CurrentUser, caller)
        )
    })
  })
)
