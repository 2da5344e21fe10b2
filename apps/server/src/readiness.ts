import { StorageHealth } from "@parley/storage"
import { Context, Effect, Layer } from "effect"
import { Redis } from "effect/persistence"

type Check = Effect.Effect<void, unknown>

/**
 * How long one check may take: a dependency that does not answer within it is reported down,
 * and all checks run at once, so `/readyz` answers within about this long whatever is stalled.
 */
const checkTimeout = "1 second"

/** Each configured dependency and a cheap round trip to it, for `/readyz`. */
export class Readiness extends Context.Service<
  Readiness,
  {
    readonly check: Effect.Effect<Record<string, "up" | "down">>
  }
>()("parley/server/Readiness") {
  static readonly make = (checks: Record<string, Check>) =>
    Readiness.of({
      check: Effect.forEach(
        Object.entries(checks),
        ([name, check]) =>
          check.pipe(
            Effect.timeout(checkTimeout),
            Effect.as("up" as const),
            Effect.catchCause(() => Effect.succeed("down" as const)),
            Effect.map((state) => [name, state] as const)
          ),
        { concurrency: "unbounded" }
      ).pipe(Effect.map(Object.fromEntries))
    })

  static readonly layerStorageOnly = Layer.effect(
    Readiness,
    Effect.map(StorageHealth, (storage) => Readiness.make({ storage: storage.check }))
  )

  static readonly layerWithRedis = Layer.effect(
    Readiness,
    Effect.gen(function* () {
      const storage = yield* StorageHealth
      const redis = yield* Redis.Redis
      return Readiness.make({ storage: storage.check, redis: redis.send("PING") })
    })
  )
}
