/**
 * Preloaded into a server process by `event-loop-sqlite.ts` (`node --import`): measures that
 * process's event-loop delay and answers the parent over IPC, so the server's code is measured
 * as it runs in production, with nothing added to it.
 *   "reset"  → forget what was measured so far (start of a phase)
 *   "report" → { p50, p99, max } in milliseconds since the last reset
 *
 * Sampled by a 10 ms timer: each tick records how late it ran. (`monitorEventLoopDelay`
 * misses a single long block: a 1.5 s synchronous SQLite busy wait showed up as 13 ms in it.)
 */
import { createHistogram } from "node:perf_hooks"

const intervalMs = 10
const histogram = createHistogram()
let last = performance.now()
setInterval(() => {
  const now = performance.now()
  histogram.record(Math.max(1, Math.round((now - last - intervalMs) * 1000)))
  last = now
}, intervalMs).unref()

const ms = (us: number) => Math.round(us / 100) / 10

process.on("message", (message) => {
  if (message === "reset") {
    histogram.reset()
    process.send?.({ reset: true })
  } else if (message === "report") {
    process.send?.({ p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) })
  }
})
// The IPC channel must not keep the server alive once it wants to exit.
process.channel?.unref()
