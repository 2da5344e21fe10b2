import { RateLimited, ServiceUnavailable } from "@parley/domain"
import { Config, Context, Duration, Effect, Layer } from "effect"
import { RateLimiter } from "effect/persistence"

/**
 * How much of what each caller may do. Login is limited per client IP and per account;
 * the account limit expires with its window, so an attacker can slow a victim's logins
 * for at most one window but never lock the account for good.
 */
export const RateLimitConfig = Config.all({
  loginPerIp: Config.Int("RATE_LOGIN_PER_IP").pipe(Config.withDefault(30)),
  loginPerAccount: Config.Int("RATE_LOGIN_PER_ACCOUNT").pipe(Config.withDefault(10)),
  signupPerIp: Config.Int("RATE_SIGNUP_PER_IP").pipe(Config.withDefault(20)),
  refreshPerIp: Config.Int("RATE_REFRESH_PER_IP").pipe(Config.withDefault(60)),
  /** Messages per user per 10 seconds, over HTTP and WebSocket together. */
  messagesPerUser: Config.Int("RATE_MESSAGES_PER_USER").pipe(Config.withDefault(50)),
  /** Rooms a user may create per hour. */
  roomsPerUser: Config.Int("RATE_ROOMS_PER_USER").pipe(Config.withDefault(30))
})
export type RateLimitConfig = Config.Success<typeof RateLimitConfig>

export class RateLimits extends Context.Service<
  RateLimits,
  {
    readonly login: (ip: string, account: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    readonly signup: (ip: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    readonly refresh: (ip: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    readonly message: (userId: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
    readonly room: (userId: string) => Effect.Effect<void, RateLimited | ServiceUnavailable>
  }
>()("parley/server/ratelimit/RateLimits") {
  /** Needs a `RateLimiter`: the in-memory store on one node, the Redis store across nodes. */
  static readonly layer = (config: RateLimitConfig) =>
    Layer.effect(
      RateLimits,
      Effect.gen(function* () {
        const limiter = yield* RateLimiter.RateLimiter
        const consume = (key: string, limit: number, window: Duration.Input) =>
          limiter.consume({ key, limit, window, algorithm: "fixed-window", onExceeded: "fail" }).pipe(
            Effect.asVoid,
            Effect.catchTag(
              "RateLimiterError",
              ({ reason }): Effect.Effect<never, RateLimited | ServiceUnavailable> =>
                reason._tag === "RateLimitExceeded"
                  ? Effect.fail(
                      new RateLimited({
                        retryAfterSeconds: Math.max(1, Math.ceil(Duration.toSeconds(reason.retryAfter)))
                      })
                    )
                  : Effect.andThen(
                      Effect.logError("rate limit store failed", reason),
                      Effect.fail(new ServiceUnavailable())
                    )
            )
          )
        return RateLimits.of({
          login: (ip, account) =>
            Effect.andThen(
              consume(`login:ip:${ip}`, config.loginPerIp, "1 minute"),
              consume(`login:account:${account.trim().toLowerCase()}`, config.loginPerAccount, "15 minutes")
            ),
          signup: (ip) => consume(`signup:ip:${ip}`, config.signupPerIp, "1 hour"),
          refresh: (ip) => consume(`refresh:ip:${ip}`, config.refreshPerIp, "1 minute"),
          message: (userId) => consume(`message:user:${userId}`, config.messagesPerUser, "10 seconds"),
          room: (userId) => consume(`room:user:${userId}`, config.roomsPerUser, "1 hour")
        })
      })
    )
}
