import { Cause, Config, Context, Duration, Effect, Exit, Layer, Redacted } from "effect"
import { CircuitBreaker, Redis } from "effect/persistence"
import { Redis as IORedis } from "ioredis"

/**
 * Effect's client-agnostic `Redis` service (used by RateLimiter, presence, revocations and
 * the cluster's runner storage), provided from an `ioredis` connection.
 *
 * A Redis that does not answer (stopped, stalled, partitioned) must not hold requests: every
 * command gets `commandTimeout`, and a circuit breaker turns a few consecutive such timeouts
 * into immediate failures for every other caller until a probe gets an answer again (the
 * cluster's runner storage excepted: see `UnguardedRedis`). While Redis
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

/**
 * Consecutive commands without an answer that open the breaker. More than one: a single
 * command slower than the timeout (a big reply, a pause for a fork) is not a dead Redis. Not
 * more than two: a WebSocket send makes two commands in turn (rate limit, publish), and must
 * find the circuit open by its second or it waits out two timeouts, past the 2 s bound (with
 * 3, the stall test's slowest answer reached 2049 ms on a loaded machine).
 */
export const silentCommandsToTrip = 2

/**
 * `bounded` gives a command `commandTimeout`; `guarded` also fails it fast while Redis is
 * known not to answer (the circuit breaker is open); `observed` is never refused, but while
 * the circuit is closed its silent commands count toward opening it for everyone else.
 */
export const guard = (config: RedisConfig) =>
  Effect.gen(function* () {
    const breaker = yield* CircuitBreaker.make({
      tripPolicy: CircuitBreaker.consecutive(silentCommandsToTrip),
      openDuration: config.retryAfter
    }).pipe(Effect.provide(CircuitBreaker.layerStoreMemory()))
    const bounded =
      (send: Redis.Redis["Service"]["send"]): Redis.Redis["Service"]["send"] =>
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
          })
        )
    const throughBreaker =
      (send: Redis.Redis["Service"]["send"]) =>
      <A>(command: string, ...args: ReadonlyArray<string>) =>
        bounded(send)<A>(command, ...args).pipe(
          breaker.execute({
            key: "redis",
            classify: (exit) => (answered(exit) ? CircuitBreaker.success : CircuitBreaker.failure())
          })
        )
    const guarded =
      (send: Redis.Redis["Service"]["send"]): Redis.Redis["Service"]["send"] =>
      <A>(command: string, ...args: ReadonlyArray<string>) =>
        throughBreaker(send)<A>(command, ...args).pipe(
          Effect.catchTag("CircuitBreakerError", (cause) => Effect.fail(new Redis.RedisError({ cause })))
        )
    /** Counted by the breaker while it is closed, so its silence opens it sooner; never refused. */
    const observed =
      (send: Redis.Redis["Service"]["send"]): Redis.Redis["Service"]["send"] =>
      <A>(command: string, ...args: ReadonlyArray<string>) =>
        throughBreaker(send)<A>(command, ...args).pipe(
          Effect.catchTag("CircuitBreakerError", () => bounded(send)<A>(command, ...args))
        )
    return { bounded, guarded, observed }
  })

/**
 * The same connection with each command bounded by `commandTimeout` and never refused by the
 * circuit breaker (its silence still counts toward opening it): for the cluster's runner storage, whose lock refreshes Sharding already bounds and
 * retries. Refused by a breaker that one slow rate-limit command opened, a refresh would fail
 * and the node would let go of every shard.
 */
export class UnguardedRedis extends Context.Service<UnguardedRedis, Redis.Redis["Service"]>()(
  "parley/server/redis/UnguardedRedis"
) {}

export const layer = (url: Redacted.Redacted<string>) => {
  const connection = Layer.effect(RedisConnection, open(Redacted.value(url)))
  const services = Layer.effectContext(
    Effect.gen(function* () {
      const config = yield* RedisConfig
      const client = yield* RedisConnection
      const { guarded, observed } = yield* guard(config)
      const on = (send: Redis.Redis["Service"]["send"]) =>
        Redis.make({
          send,
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
      const redis = yield* on(guarded(sendWith(client)))
      const unguarded = yield* on(observed(sendWith(client)))
      return Context.make(Redis.Redis, redis).pipe(Context.add(UnguardedRedis, unguarded))
    })
  )
  return Layer.provideMerge(services, connection)
}
