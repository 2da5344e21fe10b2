import { NodeRuntime } from "@effect/platform-node"
import { Layer, Logger } from "effect"
import { ServerLive } from "./app.ts"

/** Structured JSON logs on stdout, one object per line. */
const Logging = Logger.layer([Logger.consoleJson])

Layer.launch(ServerLive.pipe(Layer.provide(Logging))).pipe(NodeRuntime.runMain)
