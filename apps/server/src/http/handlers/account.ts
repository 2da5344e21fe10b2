import { Api, CurrentUser, SessionList } from "@parley/domain"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Accounts } from "../../auth/accounts.ts"

/** Bearer-protected: the `Authorization` middleware has already put the caller in `CurrentUser`. */
export const AccountHandlers = HttpApiBuilder.group(
  Api,
  "account",
  Effect.fn(function* (handlers) {
    const accounts = yield* Accounts
    const me = Effect.map(CurrentUser, (caller) => caller.user)
    return handlers
      .handle("profile", () => me)
      .handle("me", () => me)
      .handle("logout", ({ payload }) =>
        Effect.flatMap(CurrentUser, (caller) => accounts.logout(caller, payload.refresh_token))
      )
      .handle("listSessions", () =>
        Effect.flatMap(CurrentUser, (caller) => accounts.listSessions(caller)).pipe(
          Effect.map((sessions) => new SessionList({ sessions }))
        )
      )
      .handle("revokeSession", ({ params }) =>
        Effect.flatMap(CurrentUser, (caller) => accounts.revokeSession(caller, params.id))
      )
  })
)
