import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer, Logger, References } from "effect"
import { ServerLive } from "./app.ts"

/** Structured JSON logs on stdout, one object per line, from `LOG_LEVEL` (default Info) up. */
const Logging = Layer.unwrap(
  Effect.map(Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault("Info" as const)), (level) =>
    Layer.merge(Logger.layer([Logger.consoleJson]), Layer.succeed(References.MinimumLogLevel, level))
  )
)

Layer.launch(ServerLive.pipe(Layer.provide(Logging))).pipe(NodeRuntime.runMain)
