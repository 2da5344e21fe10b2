/**
 * When traces are exported: only with an OTLP endpoint, and never when the specification's
 * switches turn it off. Off, the server keeps Effect's default tracer, which is what every
 * service checks (once) before adding a span to the realtime path.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option } from "effect"
import { tracingOn } from "../src/observability/spans.ts"
import { exportTarget, Tracing, TracingConfig } from "../src/observability/tracing.ts"

const withEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

const target = (env: Record<string, string>) =>
  Effect.map(TracingConfig, exportTarget).pipe(Effect.provide(withEnv(env)))

/** Whether the services built under `Tracing` would add spans, for this environment. */
const spansOn = (env: Record<string, string>) =>
  Effect.scoped(Layer.build(Tracing).pipe(Effect.flatMap((context) => Effect.provideContext(tracingOn, context)))).pipe(
    Effect.provide(withEnv(env))
  )

describe("tracing configuration", () => {
  it.effect("off without an endpoint, and with an empty one", () =>
    Effect.gen(function* () {
      expect(yield* target({})).toEqual(Option.none())
      expect(yield* target({ OTEL_EXPORTER_OTLP_ENDPOINT: "" })).toEqual(Option.none())
      expect(yield* spansOn({})).toBe(false)
    })
  )

  it.effect("the general endpoint gets /v1/traces; the traces endpoint is used as it is and wins", () =>
    Effect.gen(function* () {
      expect(yield* target({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toEqual(
        Option.some("http://collector:4318/v1/traces")
      )
      expect(yield* target({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/base/" })).toEqual(
        Option.some("http://collector:4318/base/v1/traces")
      )
      expect(
        yield* target({
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://other:4318/custom"
        })
      ).toEqual(Option.some("http://other:4318/custom"))
    })
  )

  it.effect("OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none turn an endpoint off", () =>
    Effect.gen(function* () {
      const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1" }
      expect(yield* target({ ...endpoint, OTEL_SDK_DISABLED: "true" })).toEqual(Option.none())
      expect(yield* target({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })).toEqual(Option.none())
      expect(yield* target({ ...endpoint, OTEL_TRACES_EXPORTER: "console,otlp" })).toEqual(
        Option.some("http://127.0.0.1:1/v1/traces")
      )
      expect(yield* spansOn({ ...endpoint, OTEL_SDK_DISABLED: "true" })).toBe(false)
    })
  )

  it.effect("with an endpoint, services see an exporting tracer", () =>
    Effect.gen(function* () {
      expect(
        yield* spansOn({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1", OTEL_BSP_SCHEDULE_DELAY: "60000" })
      ).toBe(true)
    })
  )

  it.effect("headers and resource attributes are the specification's key=value lists, values URI-encoded", () =>
    Effect.gen(function* () {
      const config = yield* TracingConfig.pipe(
        Effect.provide(
          withEnv({
            OTEL_EXPORTER_OTLP_HEADERS: "ignored=1",
            OTEL_EXPORTER_OTLP_TRACES_HEADERS: "api-key=a%20b,x-team=chat",
            OTEL_RESOURCE_ATTRIBUTES: "service.instance.id=node-2"
          })
        )
      )
      expect(config.headers).toEqual(Option.some({ "api-key": "a b", "x-team": "chat" }))
      expect(config.resourceAttributes).toEqual(Option.some({ "service.instance.id": "node-2" }))
    })
  )

  it.effect("a protocol it cannot speak (gRPC) stops the start with a clear error", () =>
    Effect.gen(function* () {
      const failed = yield* Effect.flip(
        target({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })
      )
      expect(String(failed)).toContain("OTEL_EXPORTER_OTLP_PROTOCOL")
    })
  )
})
