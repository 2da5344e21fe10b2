import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { ServerLive } from "./app.ts"
import { Logging } from "./observability/logging.ts"
import { Tracing } from "./observability/tracing.ts"

// Tracing is built before the server (its services ask whether spans are exported) and
// closed after it, so the last spans are flushed.
Layer.launch(ServerLive.pipe(Layer.provide(Tracing), Layer.provide(Logging))).pipe(NodeRuntime.runMain)
