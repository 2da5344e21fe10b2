/**
 * OpenTelemetry traces, through Effect's own OTLP/HTTP exporter: on when an OTLP endpoint is
 * configured, off otherwise. Off, the server keeps Effect's default in-memory tracer and the
 * realtime path adds no span at all (see `spans.ts`).
 *
 * Read from the variables of the OpenTelemetry specification, so an operator's usual settings
 * work: `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended) or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is), `OTEL_EXPORTER_OTLP_PROTOCOL`
 * (`http/protobuf`, the default, or `http/json`; no gRPC), `OTEL_EXPORTER_OTLP_HEADERS`,
 * `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
 * `OTEL_SERVICE_NAME` (default `parley`), `OTEL_RESOURCE_ATTRIBUTES`, and `OTEL_SDK_DISABLED` /
 * `OTEL_TRACES_EXPORTER=none` to turn an endpoint off. Each `_TRACES_` variant wins over the
 * general one, as the specification says.
 */
import { Config, Duration, Effect, Layer, Option, Schema } from "effect"
import { FetchHttpClient, UrlParams } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"

/** A `_TRACES_` variable, else its general form. */
const tracesOr = <A>(make: (name: string) => Config.Config<A>, name: string) =>
  Config.option(make(`OTEL_EXPORTER_OTLP_TRACES_${name}`).pipe(Config.orElse(() => make(`OTEL_EXPORTER_OTLP_${name}`))))

const Protocol = Schema.Literals(["http/protobuf", "http/json"])

/** `key=value` pairs, comma-separated, values URI-encoded (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_RESOURCE_ATTRIBUTES`). */
const pairs = (name: string) =>
  Config.Record(Schema.StringFromUriComponent, Schema.StringFromUriComponent, name, {
    trim: true,
    keepEmptyValues: true
  })

export const TracingConfig = Config.all({
  /** The full traces URL: a `_TRACES_` endpoint as it is, the general one with `/v1/traces` appended. */
  url: Config.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").pipe(
    Config.orElse(() =>
      Config.String("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(
        Config.map((base) => (base.trim() === "" ? "" : `${base.trim().replace(/\/?$/, "/")}v1/traces`))
      )
    ),
    // Empty counts as unset, as the specification says.
    Config.map((s) => (s.trim() === "" ? Option.none<string>() : Option.some(s.trim()))),
    Config.withDefault(Option.none<string>())
  ),
  disabled: Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  exporter: Config.String("OTEL_TRACES_EXPORTER").pipe(Config.withDefault("otlp")),
  protocol: tracesOr((name) => Config.schema(Protocol, name), "PROTOCOL"),
  compression: tracesOr((name) => Config.schema(Schema.Literals(["gzip", "none"]), name), "COMPRESSION"),
  headers: tracesOr(pairs, "HEADERS"),
  /** How often ended spans are sent, in milliseconds (the specification's default, 5000). */
  scheduleDelay: Config.Int("OTEL_BSP_SCHEDULE_DELAY").pipe(Config.withDefault(5000)),
  maxBatchSize: Config.Int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").pipe(Config.withDefault(512)),
  serviceName: Config.option(Config.String("OTEL_SERVICE_NAME")),
  resourceAttributes: Config.option(pairs("OTEL_RESOURCE_ATTRIBUTES"))
})
export type TracingConfig = Config.Success<typeof TracingConfig>

/** Where spans go, or `None` when tracing is off. */
export const exportTarget = (config: TracingConfig) =>
  config.disabled || config.exporter.split(",").every((e) => e.trim().toLowerCase() !== "otlp")
    ? Option.none<string>()
    : config.url

/**
 * HTTP server spans record the URL with its query (`url.full`, `url.query`). A client may put
 * its access token there (`/ws?token=…` sent without an upgrade reaches the router): those
 * values leave as `<redacted>`, like Effect's default signature parameters.
 */
const redactTokensInUrls = Layer.effect(
  UrlParams.CurrentRedactedNames,
  Effect.map(Effect.service(UrlParams.CurrentRedactedNames), (names) => [...names, /token/i, /secret/i, /password/i])
)

/**
 * The tracer layer: Effect's OTLP exporter when an endpoint is set, nothing otherwise. Provide
 * it under everything else, so services see the tracer when they are built (`spans.ts`), and
 * it flushes the last spans after they have stopped.
 */
export const Tracing = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* TracingConfig
    const url = exportTarget(config)
    if (Option.isNone(url)) return Layer.empty
    const protocol = Option.getOrElse(config.protocol, () => "http/protobuf" as const)
    // `OTEL_SERVICE_NAME` first, then a `service.name` among the resource attributes, then ours.
    const named = Option.isSome(config.serviceName)
      ? config.serviceName.value
      : Option.isSome(config.resourceAttributes) && "service.name" in config.resourceAttributes.value
        ? undefined
        : "parley"
    // The endpoint without a query or credentials, which may hold a secret.
    const where = URL.parse(url.value)
    if (where === null)
      return yield* Effect.die(
        new Error("the OTLP traces endpoint (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT) is not a URL")
      )
    yield* Effect.logInfo("exporting traces over OTLP").pipe(
      Effect.annotateLogs({ endpoint: `${where.origin}${where.pathname}`, protocol })
    )
    return Layer.merge(
      OtlpTracer.layer({
        url: url.value,
        resource: { serviceName: named },
        headers: Option.getOrUndefined(config.headers),
        compression: Option.getOrElse(config.compression, () => "none" as const),
        exportInterval: Duration.millis(config.scheduleDelay),
        maxBatchSize: config.maxBatchSize
      }).pipe(
        Layer.provide(protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
        Layer.provide(FetchHttpClient.layer)
      ),
      redactTokensInUrls
    )
  })
)
