/**
 * `/metrics` on a listener of its own (`METRICS_HOST`:`METRICS_PORT`, loopback by default),
 * never on the public port: it shows message volume and load, which is the operator's
 * business. Prometheus text format, from the process's one metric registry. Port 0 takes
 * any free port; the address is logged once listening (`metrics listening`, `metrics_url`),
 * which is how tests and benches running many servers at once find theirs.
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpMiddleware, HttpRouter, HttpServer } from "effect/http"
import { PrometheusMetrics } from "effect/observability"

export const metricsPath = "/metrics"

const logAddress = HttpServer.addressFormattedWith((url) =>
  Effect.logInfo("metrics listening").pipe(Effect.annotateLogs({ metrics_url: `${url}${metricsPath}` }))
)

/**
 * Serves `GET /metrics` (and nothing else: 404) until the server stops. Built as a discarded
 * layer so that its router and server stay private to it, out of the main server's context.
 */
export const layerMetricsListener = (options: { readonly host: string; readonly port: number }) => {
  const listener = Layer.merge(
    HttpRouter.serve(PrometheusMetrics.layerHttp({ path: metricsPath }), {
      disableLogger: true,
      disableListenLog: true
    }),
    Layer.effectDiscard(logAddress)
  ).pipe(
    Layer.provide(NodeHttpServer.layer(createServer, { port: options.port, host: options.host })),
    // A scrape every few seconds is not something to trace.
    Layer.provide(Layer.succeed(HttpMiddleware.TracerDisabledWhen)(() => true))
  )
  return Layer.effectDiscard(Layer.build(listener))
}
