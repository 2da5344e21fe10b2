/**
 * The event-loop delay gauges on `/metrics` (`metrics/event-loop.ts`): a stall of the event
 * loop shows up in the next window's max and p99, as the realtime bench's login storm reads them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { layerEventLoopMetrics } from "../src/metrics/event-loop.ts"

const gauge = (text: string, name: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`parley_event_loop_delay_${name}_seconds `))
  return line === undefined ? undefined : Number(line.split(" ").at(-1))
}

/** Reads the gauges every 10 ms until `done` holds for them. */
const waitFor = (done: (max: number | undefined, p99: number | undefined) => boolean) =>
  Effect.gen(function* () {
    for (;;) {
      const text = yield* PrometheusMetrics.format()
      const max = gauge(text, "max")
      const p99 = gauge(text, "p99")
      if (done(max, p99)) return { max: max!, p99: p99! }
      yield* Effect.sleep(Duration.millis(10))
    }
  })

describe("event-loop delay metrics", () => {
  it.live("a 300 ms block of the event loop shows in the window's max", () =>
    Effect.gen(function* () {
      yield* Layer.build(layerEventLoopMetrics({ resolution: Duration.millis(5), window: Duration.seconds(1) }))
      // A first window is reported: the gauges exist.
      yield* waitFor((max) => max !== undefined)
      const started = Date.now()
      while (Date.now() - started < 300) {
        // the stall: nothing else runs on this thread
      }
      // The window holding the block reports it: one sample woke at least 290 ms late.
      const seen = yield* waitFor((max) => max !== undefined && max >= 0.29)
      assert.isAtLeast(seen.max, 0.29)
    }).pipe(Effect.scoped)
  )
})
