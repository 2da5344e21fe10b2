import { Context, Effect, Layer } from "effect"
import type { Redis } from "effect/persistence"
import { Connections } from "./connections.ts"

/** How many WebSockets are open across the deployment, for operators' stats. */
export class SocketCounts extends Context.Service<
  SocketCounts,
  {
    /** Open sockets on every live node (a node that died drops out after a short expiry). */
    readonly total: Effect.Effect<number, Redis.RedisError>
  }
>()("parley/server/ws/SocketCounts") {
  /** One node: this process's sockets are all there are. */
  static readonly layerMemory = Layer.effect(
    SocketCounts,
    Effect.map(Connections, (connections) => SocketCounts.of({ total: connections.count }))
  )
}
