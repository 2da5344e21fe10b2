/**
 * Logs: JSON on stdout, one object per line, from `LOG_LEVEL` (default Info) up. Fields are
 * Effect's structured ones (`message`, `level`, `timestamp`, `fiberId`, `cause`, `spans`,
 * `annotations`; the request id is `annotations.request_id`). When traces are exported, a line
 * written inside a span also gets `trace_id` and `span_id`, so a log line leads to its trace.
 */
import { Config, Context, Effect, Formatter, Layer, Logger, References, Tracer } from "effect"

const structured = Logger.formatStructured

const withTraceIds = Logger.make((options) => {
  const entry = structured.log(options)
  const { fiber } = options
  if (fiber.getRef(Tracer.Tracer) === Tracer.nativeTracer) return entry
  const span = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
  return span === undefined ? entry : { ...entry, trace_id: span.traceId, span_id: span.spanId }
})

export const jsonLogger = Logger.withConsoleLog(Logger.map(withTraceIds, Formatter.formatJson))

export const Logging = Layer.unwrap(
  Effect.map(Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault("Info" as const)), (level) =>
    Layer.merge(Logger.layer([jsonLogger]), Layer.succeed(References.MinimumLogLevel, level))
  )
)
