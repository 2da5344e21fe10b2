import { Cause, Config, Context, Duration, Effect, Exit, Layer, Redacted } from "effect"
import { CircuitBreaker, Redis } from "effect/persistence"
import { Redis as IORedis } from "ioredis"

/**
 * Effect's client-agnostic `Redis` service (used by RateLimiter, presence, revocations and
 * the cluster's runner storage), provided from an `ioredis` connection.
 *
 * A Redis that does not answer (stopped, stalled, partitioned) must not hold requests: every
 * command gets `commandTimeout`, and a circuit breaker turns the first such timeout into
 * immediate failures for every other caller until a probe gets an answer again. While Redis
 * is down, callers see a `RedisError` within `commandTimeout` (most at once) and answer 503.
 * ioredis keeps reconnecting in the background; a stalled command still completes later,
 * unobserved.
 */
export class RedisConnection extends Context.Service<RedisConnection, IORedis>()(
  "parley/server/redis/RedisConnection"
) {}

export const RedisConfig = Config.all({
  /** How long one command may wait for Redis before the caller gets an error. */
  commandTimeout: Config.Duration("REDIS_COMMAND_TIMEOUT").pipe(Config.withDefault(Duration.seconds(1))),
  /** After a command timed out, how long every command fails at once before one probes Redis again. */
  retryAfter: Config.Duration("REDIS_RETRY_AFTER").pipe(Config.withDefault(Duration.millis(500)))
})
export type RedisConfig = Config.Success<typeof RedisConfig>

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

/**
 * An error reply (`WRONGTYPE`, `NOSCRIPT`, a script's own error) proves Redis answers; only
 * silence and lost connections count against it.
 */
const answered = (exit: Exit.Exit<unknown, Redis.RedisError>) => {
  if (Exit.isSuccess(exit)) return true
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" && isReply(error.value.cause)
}

const isReply = (cause: unknown) => (cause as { name?: unknown } | undefined)?.name === "ReplyError"

/** Bounds `send` and fails it fast while Redis is known not to answer. */
const guard = (config: RedisConfig) =>
  Effect.gen(function* () {
    const breaker = yield* CircuitBreaker.make({
      tripPolicy: CircuitBreaker.consecutive(1),
      openDuration: config.retryAfter
    }).pipe(Effect.provide(CircuitBreaker.layerStoreMemory()))
    return (send: Redis.Redis["Service"]["send"]): Redis.Redis["Service"]["send"] =>
      <A>(command: string, ...args: ReadonlyArray<string>) =>
        send<A>(command, ...args).pipe(
          Effect.timeoutOrElse({
            duration: config.commandTimeout,
            orElse: () =>
              Effect.fail(
                new Redis.RedisError({
                  cause: new Cause.TimeoutError(
                    `Redis did not answer ${command} within ${Duration.format(config.commandTimeout)}`
                  )
                })
              )
          }),
          breaker.execute({
            key: "redis",
            classify: (exit) => (answered(exit) ? CircuitBreaker.success : CircuitBreaker.failure())
          }),
          Effect.catchTag("CircuitBreakerError", (cause) => Effect.fail(new Redis.RedisError({ cause })))
        )
  })

export const layer = (url: Redacted.Redacted<string>) => {
  const connection = Layer.effect(RedisConnection, open(Redacted.value(url)))
  const service = Layer.effect(
    Redis.Redis,
    Effect.gen(function* () {
      const config = yield* RedisConfig
      const client = yield* RedisConnection
      const guarded = yield* guard(config)
      return yield* Redis.make({
        send: guarded(sendWith(client)),
        // Reserved connections are for blocking commands (BLPOP, XREAD BLOCK), which wait on purpose.
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
