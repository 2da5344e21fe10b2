import { Clock, Duration, Effect, Layer, Queue } from "effect"
import { Redis } from "effect/persistence"
import { Connections } from "./connections.ts"
import { SocketCounts } from "./socket-counts.ts"

/**
 * Each node keeps its own count in Redis under a key that expires unless renewed, and
 * indexes itself in a sorted set scored by that expiry; the total sums the live nodes' keys
 * (no SCAN). A node writes its count whenever it changes and renews it every third of the
 * TTL, so a crashed node's sockets stop counting within one TTL.
 */
export const layerRedis = (options: { readonly cluster: string; readonly ttl: Duration.Duration }) =>
  Layer.effect(
    SocketCounts,
    Effect.gen(function* () {
      const redis = yield* Redis.Redis
      const connections = yield* Connections
      const ttlMs = Math.max(1000, Duration.toMillis(options.ttl))
      const nodes = `parley:${options.cluster}:sockets`
      const node = crypto.randomUUID()
      const countKey = (id: string) => `${nodes}:${id}`

      const write = Effect.gen(function* () {
        const count = yield* connections.count
        const expiresAt = (yield* Clock.currentTimeMillis) + ttlMs
        yield* redis.send("SET", countKey(node), String(count), "PX", String(ttlMs))
        yield* redis.send("ZADD", nodes, String(expiresAt), node)
        yield* redis.send("PEXPIRE", nodes, String(ttlMs * 2))
      }).pipe(Effect.catchCause((cause) => Effect.logWarning("socket count not written", cause)))

      // One writer, woken by every change (changes in between collapse into one write).
      const changed = yield* Queue.sliding<void>(1)
      connections.onCountChange(() => {
        Queue.offerUnsafe(changed, undefined)
      })
      yield* write
      yield* Queue.take(changed).pipe(
        Effect.timeoutOption(Duration.millis(ttlMs / 3)),
        Effect.andThen(write),
        Effect.forever,
        Effect.forkScoped
      )
      yield* Effect.addFinalizer(() =>
        Effect.all([redis.send("DEL", countKey(node)), redis.send("ZREM", nodes, node)]).pipe(Effect.ignore)
      )

      return SocketCounts.of({
        total: Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          yield* redis.send("ZREMRANGEBYSCORE", nodes, "-inf", String(now))
          const live = yield* redis.send<Array<string>>("ZRANGE", nodes, "0", "-1")
          if (live.length === 0) return 0
          const counts = yield* redis.send<Array<string | null>>("MGET", ...live.map(countKey))
          return counts.reduce((sum, c) => sum + (c === null ? 0 : Number(c)), 0)
        })
      })
    })
  )
