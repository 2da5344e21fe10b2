/**
 * What `/metrics` shows of the realtime edge, kept cheap on the hot path: the socket and
 * subscription gauges move on each change (a number and one gauge write), the outbound
 * buffer is summed over this node's sockets once a second, and delivery latency is one
 * histogram sample per broadcast (not per socket).
 */
import { type Context, Duration, Effect, Metric, Schedule } from "effect"

export const socketsGauge = Metric.gauge("parley_ws_connections", {
  description: "WebSocket connections open on this node"
})
export const subscriptionsGauge = Metric.gauge("parley_ws_subscriptions", {
  description: "room subscriptions held by this node's WebSocket connections"
})
export const bufferedBytesGauge = Metric.gauge("parley_ws_outbound_buffered_bytes", {
  description: "bytes written to this node's WebSockets and not yet sent (summed every second)"
})
export const deliveryLatency = Metric.histogram("parley_delivery_latency_seconds", {
  description: "from a message's created_at to this node handing its frame to the room's sockets, once per broadcast",
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 15 })
})

/** Node-wide counters behind the gauges; updated synchronously from connection code. */
export interface WsMetrics {
  readonly subscribed: (delta: number) => void
  readonly connected: (delta: number) => void
}

export const makeWsMetrics = Effect.map(Effect.context<never>(), (context: Context.Context<never>): WsMetrics => {
  let sockets = 0
  let subscriptions = 0
  return {
    subscribed: (delta) => {
      subscriptions += delta
      subscriptionsGauge.updateUnsafe(subscriptions, context)
    },
    connected: (delta) => {
      sockets += delta
      socketsGauge.updateUnsafe(sockets, context)
    }
  }
})

/** Samples the sum of `bufferedAmount` over `sockets()` every second, until the scope closes. */
export const sampleBufferedBytes = (sockets: () => Iterable<{ readonly bufferedAmount: number }>) =>
  Effect.suspend(() => {
    let sum = 0
    for (const socket of sockets()) sum += socket.bufferedAmount
    return Metric.update(bufferedBytesGauge, sum)
  }).pipe(Effect.repeat(Schedule.spaced(Duration.seconds(1))), Effect.forkScoped)
