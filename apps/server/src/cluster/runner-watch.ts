/**
 * Every node runs Sharding's runner health check over the other runners, not only the node
 * that holds the check's cluster singleton: that singleton dies with its node, and a crashed
 * node holding it would then be found only when its lease ran out. Same service
 * (`RunnerHealth`), same record (`RunnerStorage.setRunnerHealth`), same rule as Sharding's
 * own check (`Sharding.ts`, "Runner health checks"): the flag follows the ping, and the last
 * healthy runner is never flagged unhealthy.
 */
import { Effect, Equal, Layer, Option, Schedule } from "effect"
import { RunnerHealth, RunnerStorage, ShardingConfig } from "effect/cluster"

export const layerRunnerWatch = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* ShardingConfig.ShardingConfig
    const storage = yield* RunnerStorage.RunnerStorage
    const health = yield* RunnerHealth.RunnerHealth
    const self = Option.getOrUndefined(config.runnerAddress)
    if (self === undefined) return

    const checkAll = Effect.gen(function* () {
      const runners = yield* storage.getRunners
      let healthy = runners.filter(([, h]) => h).length
      yield* Effect.forEach(
        runners.filter(([runner]) => !Equal.equals(runner.address, self)),
        ([runner, flagged]) =>
          Effect.flatMap(health.isAlive(runner.address), (alive) => {
            if (alive === flagged) return Effect.void
            if (!alive && healthy <= 1) return Effect.void
            healthy += alive ? 1 : -1
            return storage.setRunnerHealth(runner.address, alive)
          }),
        { concurrency: 10, discard: true }
      )
    })

    yield* checkAll.pipe(
      Effect.catchCause((cause) => Effect.logDebug("runner health check failed", cause)),
      Effect.repeat(Schedule.spaced(config.runnerHealthCheckInterval)),
      Effect.forkScoped
    )
  })
)
