import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer, Logger, References } from "effect"
import { ServerLive } from "./app.ts"
import { Tracing } from "./observability/tracing.ts"

/** Structured JSON logs on stdout, one object per line, from `LOG_LEVEL` (default Info) up. */
const Logging = Layer.unwrap(
  Effect.map(Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault("Info" as const)), (level) =>
    Layer.merge(Logger.layer([Logger.consoleJson]), Layer.succeed(References.MinimumLogLevel, level))
  )
)

// Tracing is built before the server (its services ask whether spans are exported) and
// closed after it, so the last spans are flushed.
Layer.launch(ServerLive.pipe(Layer.provide(Tracing), Layer.provide(Logging))).pipe(NodeRuntime.runMain)
