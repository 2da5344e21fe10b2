/**
 * The server's event-loop delay on `/metrics`: how late this process runs a callback that is
 * due, i.e. how long every socket waits for its next turn. A fiber asks to wake every `tick`
 * and records how late it woke; every `window` the gauges take that window's p50, p99 and max
 * (seconds) and the window starts over. `monitorEventLoopDelay` is not used: it missed a
 * single 300 ms block entirely (it reported 17 ms), which is the stall this metric exists to show.
 */
import { createHistogram } from "node:perf_hooks"
import { Clock, Duration, Effect, Layer, Metric, Schedule } from "effect"

const p50 = Metric.gauge("parley_event_loop_delay_p50_seconds", {
  description: "event-loop delay, median of the last window (5 s)"
})
const p99 = Metric.gauge("parley_event_loop_delay_p99_seconds", {
  description: "event-loop delay, 99th percentile of the last window (5 s)"
})
const max = Metric.gauge("parley_event_loop_delay_max_seconds", {
  description: "event-loop delay, longest in the last window (5 s)"
})

export const layerEventLoopMetrics = (options: { readonly tick: Duration.Input; readonly window: Duration.Input }) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const histogram = createHistogram()
      const tickNanos = Duration.toNanosUnsafe(options.tick)
      let last = yield* Clock.monotonicTimeNanos
      const sample = Effect.map(Clock.monotonicTimeNanos, (now) => {
        // Microseconds, at least 1: the histogram only takes positive integers.
        histogram.record(Math.max(1, Number((now - last - tickNanos) / 1000n)))
        last = now
      })
      const seconds = (us: number) => us / 1e6
      const report = Effect.suspend(() => {
        const values = [histogram.percentile(50), histogram.percentile(99), histogram.max]
        histogram.reset()
        return Effect.all([
          Metric.update(p50, seconds(values[0]!)),
          Metric.update(p99, seconds(values[1]!)),
          Metric.update(max, seconds(values[2]!))
        ])
      })
      yield* sample.pipe(Effect.repeat(Schedule.spaced(options.tick)), Effect.forkScoped)
      yield* report.pipe(Effect.repeat(Schedule.spaced(options.window)), Effect.forkScoped)
    })
  )

/** What the server runs: 100 samples a second, gauges renewed every 5 s. */
export const EventLoopMetrics = layerEventLoopMetrics({ tick: Duration.millis(10), window: Duration.seconds(5) })
