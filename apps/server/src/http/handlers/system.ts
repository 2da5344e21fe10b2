import { Api, Health, NotReady, Ready } from "@parley/domain"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Readiness } from "../../readiness.ts"

export const SystemHandlers = HttpApiBuilder.group(
  Api,
  "system",
  Effect.fn(function* (handlers) {
    const readiness = yield* Readiness
    return handlers
      .handle("healthz", () => Effect.succeed(new Health({ status: "ok" })))
      .handle("readyz", () =>
        Effect.flatMap(readiness.check, (checks) => {
          const down = Object.keys(checks).filter((name) => checks[name] === "down")
          return down.length === 0
            ? Effect.succeed(new Ready({ status: "ready", checks }))
            : Effect.fail(
                new NotReady({ error: { code: "not_ready", message: `not ready: ${down.join(", ")} down` }, checks })
              )
        })
      )
  })
)
