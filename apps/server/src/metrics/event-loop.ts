/**
 * The server's event-loop delay on `/metrics`: how late this process runs a callback that is
 * due, i.e. how long every socket waits for its next turn. Node's `monitorEventLoopDelay` times
 * a libuv timer due every `resolution` (native code: no JavaScript runs per sample); every
 * `window` the gauges take that window's p50, p99 and max, less the resolution (seconds), and
 * the window starts over. A 300 ms block shows as a max of 0.3 s (the test). The sampler this
 * replaces, a fiber repeating on `Schedule.spaced(10 ms)`, cost the idle server 20-50 ms of CPU
 * a second, several percent of a core. This one's wake-ups still cost the most of an idle node:
 * with 1000 sockets subscribed, 11 ms of CPU a second at 10 ms, 9-10 at 20, 4-4.5 at 50 or 100,
 * 2.5 at 1 s (2026-12-05). 10 ms stays, Node's default: a stall shorter than the resolution is
 * seen only if a sample falls due inside it.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Duration, Effect, Layer, Metric, Schedule } from "effect"

const p50 = Metric.gauge("parley_event_loop_delay_p50_seconds", {
  description: "event-loop delay, median of the last window (5 s)"
})
const p99 = Metric.gauge("parley_event_loop_delay_p99_seconds", {
  description: "event-loop delay, 99th percentile of the last window (5 s)"
})
const max = Metric.gauge("parley_event_loop_delay_max_seconds", {
  description: "event-loop delay, longest in the last window (5 s)"
})

const monitor = (resolutionMs: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const histogram = monitorEventLoopDelay({ resolution: resolutionMs })
      histogram.enable()
      return histogram
    }),
    (histogram) => Effect.sync(() => histogram.disable())
  )

export const layerEventLoopMetrics = (options: {
  readonly resolution: Duration.Input
  readonly window: Duration.Input
}) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const resolutionMs = Duration.toMillis(options.resolution)
      const histogram = yield* monitor(resolutionMs)
      // The histogram holds whole intervals between wake-ups (ns); the delay is what exceeds one.
      const late = (ns: number) => Math.max(0, ns / 1e9 - resolutionMs / 1000)
      const report = Effect.suspend(() => {
        const values = [histogram.percentile(50), histogram.percentile(99), histogram.max]
        histogram.reset()
        return Effect.all([
          Metric.update(p50, late(values[0]!)),
          Metric.update(p99, late(values[1]!)),
          Metric.update(max, late(values[2]!))
        ])
      })
      yield* report.pipe(Effect.repeat(Schedule.spaced(options.window)), Effect.forkScoped)
    })
  )

/** What the server runs: a sample every 10 ms, gauges renewed every 5 s. */
export const EventLoopMetrics = layerEventLoopMetrics({ resolution: Duration.millis(10), window: Duration.seconds(5) })
