import { CurrentUser, Forbidden, RequireAdmin } from "@parley/domain"
import { Effect, Layer } from "effect"

/**
 * Admin endpoints, after `Authorization`: the caller's role as stored now (read on this very
 * request), not as written in their access token, so a demoted admin loses access at once.
 */
export const RequireAdminLive = Layer.succeed(
  RequireAdmin,
  RequireAdmin.of((httpEffect) =>
    Effect.flatMap(CurrentUser, (caller) =>
      caller.user.role === "admin"
        ? Effect.void
        : Effect.fail(new Forbidden({ error: { code: "forbidden", message: "this needs the admin role" } }))
    ).pipe(Effect.andThen(httpEffect))
  )
)
