import { Context, Effect, Layer, Redacted } from "effect"
import { Redis } from "effect/persistence"
import { Redis as IORedis } from "ioredis"

/**
 * Effect's client-agnostic `Redis` service (used by RateLimiter and, later, the broker),
 * provided from an `ioredis` connection. Commands fail fast while Redis is down instead
 * of queueing without bound; ioredis keeps reconnecting in the background.
 */
export class RedisConnection extends Context.Service<RedisConnection, IORedis>()(
  "parley/server/redis/RedisConnection"
) {}

const connect = (url: string) =>
  Effect.tryPromise({
    try: async () => {
      const client = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
      client.on("error", () => {}) // surfaced through failed commands and /readyz
      await client.connect()
      return client
    },
    catch: (cause) => new Redis.RedisError({ cause })
  })

const open = (url: string) =>
  Effect.acquireRelease(connect(url), (client) => Effect.promise(() => client.quit().catch(() => client.disconnect())))

const sendWith =
  (client: IORedis) =>
  <A = unknown>(command: string, ...args: ReadonlyArray<string>) =>
    Effect.tryPromise({
      try: () => client.call(command, ...args) as Promise<A>,
      catch: (cause) => new Redis.RedisError({ cause })
    })

export const layer = (url: Redacted.Redacted<string>) => {
  const connection = Layer.effect(RedisConnection, open(Redacted.value(url)))
  const service = Layer.effect(
    Redis.Redis,
    Effect.gen(function* () {
      const client = yield* RedisConnection
      return yield* Redis.make({
        send: sendWith(client),
        connect: Effect.map(connect(Redacted.value(url)), (c) => ({
          send: sendWith(c),
          close: Effect.sync(() => c.disconnect())
        })),
        subscribe: (channel, onMessage) =>
          Effect.gen(function* () {
            const subscriber = yield* open(Redacted.value(url))
            subscriber.on("message", (ch: string, message: string) => {
              if (ch === channel) onMessage({ channel: ch, message })
            })
            yield* Effect.tryPromise({
              try: () => subscriber.subscribe(channel),
              catch: (cause) => new Redis.RedisError({ cause })
            })
            return Effect.never
          })
      })
    })
  )
  return Layer.provideMerge(service, connection)
}
