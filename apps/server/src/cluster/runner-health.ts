/**
 * `effect/cluster`'s RunnerHealth, by pinging the runner through its socket as Effect's own
 * `RunnerHealth.layerPing` does, with a verdict in milliseconds for a dead process instead of
 * seconds: a crashed node refuses the connection at once (ECONNREFUSED), so each failed ping
 * costs almost nothing, while a live node that is merely slow (two shared cores, a GC pause)
 * must leave several long pings unanswered before it is called dead.
 */
import { Duration, Effect, Layer, Schedule } from "effect"
import { RunnerHealth, Runners } from "effect/cluster"

/** A live node answers a ping in milliseconds; this much silence is not "busy" any more. */
const pingTimeout = Duration.seconds(2)
/** Failed pings retried before the verdict "dead": a refused connection fails each at once. */
const pingRetries = 2
const pingRetrySpacing = Duration.millis(100)

export const layerFastPing = Layer.effect(
  RunnerHealth.RunnerHealth,
  Effect.gen(function* () {
    const runners = yield* Runners.Runners
    return RunnerHealth.RunnerHealth.of({
      isAlive: (address) =>
        runners
          .ping(address)
          .pipe(
            Effect.timeout(pingTimeout),
            Effect.retry({ times: pingRetries, schedule: Schedule.spaced(pingRetrySpacing) }),
            Effect.isSuccess
          )
    })
  })
)
