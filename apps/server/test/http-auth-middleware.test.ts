/**
 * The two HTTP guards, run as the API runs them: `Authorization` turns a bearer credential into
 * the `CurrentUser` the endpoint sees, or stops the request with the error `authenticate`
 * gave; `RequireAdmin` lets through only a caller whose stored role is admin, and the
 * endpoint itself never runs for anyone else.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Authorization,
  CurrentUser,
  RequireAdmin,
  type SessionId,
  Unauthorized,
  type UserId,
  UserView
} from "@parley/domain"
import { Effect, Layer, Redacted } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { Accounts, type Caller } from "../src/auth/accounts.ts"
import { AuthorizationLive } from "../src/http/authorization.ts"
import { RequireAdminLive } from "../src/http/require-admin.ts"

const callerWith = (role: "admin" | "user"): Caller => ({
  userId: "00000000-0000-4000-8000-00000000000a" as UserId,
  sessionId: "00000000-0000-4000-8000-00000000000b" as SessionId,
  username: "ada",
  role,
  user: new UserView({
    id: "00000000-0000-4000-8000-00000000000a" as UserId,
    username: "ada",
    email: "ada@example.com",
    role,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z"
  })
})

/** Accounts that know one access token, "good-token", as Ada's. */
const StubAccounts = Layer.succeed(Accounts)(
  Accounts.of({
    authenticate: (token: string) =>
      token === "good-token" ? Effect.succeed(callerWith("user")) : Effect.fail(new Unauthorized())
  } as unknown as Accounts["Service"])
)

const probe = HttpApiEndpoint.get("probe", "/probe")
/** Which endpoint is being called: the guards here do not look at it. */
const where = { endpoint: probe, group: HttpApiGroup.make("probe").add(probe) } as unknown as {
  readonly endpoint: HttpApiEndpoint.Top
  readonly group: HttpApiGroup.Top
}

/** The endpoint behind `Authorization`: records who it ran for. */
const handler = (ran: Array<string>) =>
  Effect.map(CurrentUser, (caller) => {
    ran.push(caller.user.username)
    return HttpServerResponse.text("ok")
  })

/** The endpoint behind `RequireAdmin`: records that it ran. */
const adminHandler = (ran: Array<string>) =>
  Effect.sync(() => {
    ran.push("endpoint")
    return HttpServerResponse.text("ok")
  })

describe("HTTP auth middleware", () => {
  it.effect("Authorization hands the endpoint the caller its token belongs to", () =>
    Effect.gen(function* () {
      const authorization = yield* Authorization
      const ran: Array<string> = []
      const response = yield* authorization.bearer(handler(ran), {
        credential: Redacted.make("good-token"),
        ...where
      }) as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown>
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(ran, ["ada"])
    }).pipe(Effect.provide(AuthorizationLive.pipe(Layer.provide(StubAccounts))))
  )

  it.effect("Authorization stops a request with a bad token before the endpoint runs", () =>
    Effect.gen(function* () {
      const authorization = yield* Authorization
      const ran: Array<string> = []
      const error = yield* Effect.flip(
        authorization.bearer(handler(ran), {
          credential: Redacted.make("forged-token"),
          ...where
        }) as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown>
      )
      assert.instanceOf(error, Unauthorized)
      assert.deepStrictEqual(ran, [])
    }).pipe(Effect.provide(AuthorizationLive.pipe(Layer.provide(StubAccounts))))
  )

  it.effect("RequireAdmin runs the endpoint for an admin and refuses anyone else with 403 forbidden", () =>
    Effect.gen(function* () {
      const requireAdmin = yield* RequireAdmin
      const ran: Array<string> = []
      const guarded = (role: "admin" | "user") =>
        (
          requireAdmin(adminHandler(ran), where) as Effect.Effect<
            HttpServerResponse.HttpServerResponse,
            unknown,
            CurrentUser
          >
        ).pipe(Effect.provideService(CurrentUser, callerWith(role)))

      assert.strictEqual((yield* guarded("admin")).status, 200)
      assert.deepStrictEqual(ran, ["endpoint"])
      const refused = yield* Effect.flip(guarded("user"))
      assert.deepStrictEqual(ran, ["endpoint"], "the endpoint did not run for a plain user")
      assert.strictEqual((refused as { _tag: string })._tag, "Forbidden")
      assert.deepStrictEqual((refused as { error: unknown }).error, {
        code: "forbidden",
        message: "this needs the admin role"
      })
    }).pipe(Effect.provide(RequireAdminLive))
  )
})
