import { RateLimited, ServiceUnavailable } from "@parley/domain"
import { Config, Context, Duration, Effect, Layer } from "effect"
import { RateLimiter } from "effect/persistence"

/**
 * How much of what each caller may do. Login limits are described in `login-limits.ts` and
 * `docs/security.md` ("Login limits").
 */
export const RateLimitConfig = Config.all({
  /** Login attempts per client address per minute, right or wrong, any account. */
  loginPerIp: Config.Int("RATE_LOGIN_PER_IP").pipe(Config.withDefault(30)),
  /** Wrong passwords for one account from one address per login window. */
  loginPerAccountIp: Config.Int("RATE_LOGIN_PER_ACCOUNT_IP").pipe(Config.withDefault(5)),
  /** Wrong passwords for one account from all addresses per login window (known addresses get as many again). */
  loginPerAccount: Config.Int("RATE_LOGIN_PER_ACCOUNT").pipe(Config.withDefault(20)),
  loginWindow: Config.Duration("RATE_LOGIN_WINDOW").pipe(Config.withDefault(Duration.minutes(15))),
  /** How long an address that logged into an account stays known to it. */
  loginKnownAddressTtl: Config.Duration("RATE_LOGIN_KNOWN_ADDRESS_TTL").pipe(Config.withDefault(Duration.days(30))),
  signupPerIp: Config.Int("RATE_SIGNUP_PER_IP").pipe(Config.withDefault(20)),
  refreshPerIp: Config.Int("RATE_REFRESH_PER_IP").pipe(Config.withDefault(60)),
  /** Messages per user per 10 seconds, over HTTP and WebSocket together. */
  messagesPerUser: Config.Int("RATE_MESSAGES_PER_USER").pipe(Config.withDefault(50)),
  /** Rooms a user may create per hour. */
  roomsPerUser: Config.Int("RATE_ROOMS_PER_USER").pipe(Config.withDefault(30)),
  /** Direct rooms a user may start per hour (opening an existing one is free). */
  directRoomsPerUser: Config.Int("RATE_DIRECT_ROOMS_PER_USER").pipe(Config.withDefault(30)),
  /** Searches per user per minute, over HTTP and WebSocket together (one reads every joined room). */
  searchesPerUser: Config.Int("RATE_SEARCHES_PER_USER").pipe(Config.withDefault(30)),
  /** Read-marker moves per user per minute, HTTP and WebSocket together (each one is a Cassandra LWT). */
  readMarksPerUser: Config.Int("RATE_READ_MARKS_PER_USER").pipe(Config.withDefault(120))
})
export type RateLimitConfig = Config.Success<typeof RateLimitConfig>

// Made once: a window given as a string is parsed again on every check (every message sent).
const tenSeconds = Duration.seconds(10)
const oneMinute = Duration.minutes(1)
const oneHour = Duration.hours(1)

/**
 * One password check that the login limits let through. Its guess is already counted (so
 * parallel guesses cannot slip past the count); a right password gives it back.
 */
export interface LoginAttempt {
  /** The password was right: the guess is given back and the address becomes known to the account. */
  readonly passwordAccepted: Effect.Effect<void>
}

export class RateLimits extends Context.Service<
  RateLimits,
  {
    /**
     * Before a password check: `account` is `user:<id>` for an existing account, or
     * `name:<normalized login>` for none, so both take the same path.
     */
    readonly login: (ip: string, account: string) => Effect.Effect<LoginAttempt, RateLimited | ServiceUnavailable>
    readonly signup: (ip: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    readonly refresh: (ip: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    readonly message: (userId: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    readonly room: (userId: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    readonly directRoom: (userId: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    readonly search: (userId: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    readonly readMark: (userId: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    /** Counted in a store the nodes share (Redis): every check is a round trip, which may hang. */
    readonly shared: boolean
  }
>()("parley/server/ratelimit/RateLimits") {
  /**
   * Needs a `RateLimiter`: the in-memory store on one node, the Redis store across nodes
   * (`shared`, which the caller knows: the store does not say).
   */
  static readonly layer = (config: RateLimitConfig, { shared = false }: { readonly shared?: boolean } = {}) =>
    Layer.effect(
      RateLimits,
      Effect.gen(function* () {
        const limiter = yield* RateLimiter.RateLimiter
        const storeFailed = (reason: unknown) =>
          Effect.andThen(Effect.logError("rate limit store failed", reason), Effect.fail(new ServiceUnavailable()))

        /** Takes `tokens` (negative: gives them back); the count left, or `RateLimited` with its wait. */
        const take = (key: string, limit: number, window: Duration.Duration, tokens = 1) =>
          limiter.consume({ key, limit, window, tokens, algorithm: "fixed-window", onExceeded: "fail" }).pipe(
            Effect.map((result) => result.remaining),
            Effect.catchTag(
              "RateLimiterError",
              ({ reason }): Effect.Effect<never, RateLimited | ServiceUnavailable> =>
                reason._tag === "RateLimitExceeded"
                  ? Effect.fail(
                      new RateLimited({
                        retryAfterSeconds: Math.max(1, Math.ceil(Duration.toSeconds(reason.retryAfter)))
                      })
                    )
                  : storeFailed(reason)
            )
          )
        const consume = (key: string, limit: number, window: Duration.Duration) =>
          Effect.asVoid(take(key, limit, window))

        const login = Effect.fn("RateLimits.login")(function* (ip: string, account: string) {
          const window = config.loginWindow
          yield* take(`login:ip:${ip}`, config.loginPerIp, oneMinute)
          const pair = { key: `login:account-ip:${account}:${ip}`, limit: config.loginPerAccountIp }
          const total = { key: `login:account:${account}`, limit: config.loginPerAccount }
          const known = { key: `login:known:${account}:${ip}`, limit: 1 }
          const knownTotal = { key: `login:account-known:${account}`, limit: config.loginPerAccount }
          const giveBack = (bucket: { key: string; limit: number }) =>
            take(bucket.key, bucket.limit, window, -1).pipe(
              Effect.asVoid,
              Effect.catch((error) => Effect.logWarning("could not give a login guess back", error))
            )

          yield* take(pair.key, pair.limit, window)
          // The account's cap, reached from other addresses, still lets in those that logged in before.
          const accountBucket = yield* take(total.key, total.limit, window).pipe(
            Effect.as(total),
            Effect.catchTag("RateLimited", (limited) =>
              Effect.gen(function* () {
                const isKnown = (yield* take(known.key, known.limit, config.loginKnownAddressTtl, 0)) === 0
                if (!isKnown) return yield* limited
                yield* take(knownTotal.key, knownTotal.limit, window)
                return knownTotal
              })
            ),
            // Refused before any password check: that attempt was no guess.
            Effect.tapError(() => giveBack(pair))
          )

          return {
            passwordAccepted: Effect.gen(function* () {
              yield* Effect.all([giveBack(pair), giveBack(accountBucket)], { concurrency: 2, discard: true })
              // Known from its first good login for the TTL; the next good login after that renews it.
              yield* take(known.key, known.limit, config.loginKnownAddressTtl).pipe(
                Effect.catchTag("RateLimited", () => Effect.void),
                Effect.catch((error) => Effect.logWarning("could not remember a login address", error))
              )
            })
          } satisfies LoginAttempt
        })

        return RateLimits.of({
          login,
          signup: (ip) => consume(`signup:ip:${ip}`, config.signupPerIp, oneHour),
          refresh: (ip) => consume(`refresh:ip:${ip}`, config.refreshPerIp, oneMinute),
          message: (userId) => consume(`message:user:${userId}`, config.messagesPerUser, tenSeconds),
          room: (userId) => consume(`room:user:${userId}`, config.roomsPerUser, oneHour),
          directRoom: (userId) => consume(`direct:user:${userId}`, config.directRoomsPerUser, oneHour),
          search: (userId) => consume(`search:user:${userId}`, config.searchesPerUser, oneMinute),
          readMark: (userId) => consume(`read-mark:user:${userId}`, config.readMarksPerUser, oneMinute),
          shared
        })
      })
    )
}
