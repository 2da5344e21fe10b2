import { randomBytes } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { DataDir, StorageKind } from "@parley/storage"
import { Config, Duration, Effect, Option, Redacted, Schema } from "effect"
import { defaultMaxBatchBytes } from "./chat/room-actor.ts"
import { TrustProxy } from "./http/client-info.ts"

/** HS256 keys shorter than the hash output weaken it (RFC 7518 §3.2). */
const minSecretBytes = 32

const nonNegative = Schema.makeFilter((d: Duration.Duration) =>
  Duration.isGreaterThanOrEqualTo(d, Duration.zero) ? undefined : "expected a duration of 0 or more"
)

export const ServerConfig = Config.all({
  host: Config.String("HOST").pipe(Config.withDefault("0.0.0.0")),
  port: Config.Port("PORT").pipe(Config.withDefault(8080)),
  /** `/metrics` is served only here, loopback by default; port 0 takes any free port (logged). */
  metricsHost: Config.String("METRICS_HOST").pipe(Config.withDefault("127.0.0.1")),
  metricsPort: Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })), "METRICS_PORT").pipe(
    Config.withDefault(9464)
  ),
  /** `production` refuses to start on generated secrets. */
  production: Config.String("PARLEY_ENV").pipe(
    Config.withDefault("development"),
    Config.map((e) => e === "production")
  ),
  /** Shared with `parley-admin bootstrap-admin`, which opens the same storage. */
  dataDir: DataDir,
  storage: StorageKind,
  redisUrl: Config.option(Config.Redacted("REDIS_URL")),
  jwtSecret: Config.option(Config.Redacted("JWT_SECRET")),
  /** Still accepted for verification during key rotation; never used to sign. */
  jwtPreviousSecret: Config.option(Config.Redacted("JWT_PREVIOUS_SECRET")),
  jwtIssuer: Config.String("JWT_ISSUER").pipe(Config.withDefault("parley")),
  jwtAudience: Config.String("JWT_AUDIENCE").pipe(Config.withDefault("parley-api")),
  accessTokenTtl: Config.Duration("ACCESS_TOKEN_TTL").pipe(Config.withDefault(Duration.minutes(15))),
  /** A session unused for this long dies, however long its absolute lifetime. */
  sessionIdleTtl: Config.Duration("SESSION_IDLE_TTL").pipe(Config.withDefault(Duration.days(14))),
  sessionAbsoluteTtl: Config.Duration("SESSION_ABSOLUTE_TTL").pipe(Config.withDefault(Duration.days(30))),
  /** A refresh token reused this soon after its rotation gets the same new pair; `0` turns it off. */
  refreshReuseGrace: Config.Literal("0", "REFRESH_REUSE_GRACE").pipe(
    Config.map(() => Duration.zero),
    Config.orElse(() => Config.schema(Schema.DurationFromString.check(nonNegative), "REFRESH_REUSE_GRACE")),
    Config.withDefault(Duration.seconds(2))
  ),
  maxBodyBytes: Config.Int("MAX_BODY_BYTES").pipe(Config.withDefault(64 * 1024)),
  /** Concurrent argon2 hashes; each holds 19 MiB and a libuv thread for ~40 ms. */
  maxConcurrentHashes: Config.Int("MAX_CONCURRENT_HASHES").pipe(Config.withDefault(4)),
  /** Proxies of ours in front of the server, whose `X-Forwarded-For` entries are trusted (`client-info.ts`). */
  trustProxy: TrustProxy,
  /** Sends waiting in one room's mailbox beyond which more are refused (503 `overloaded`). */
  roomMailboxCapacity: Config.Int("ROOM_MAILBOX_CAPACITY").pipe(Config.withDefault(1024)),
  /** The most messages one room stores in one write (group commit). */
  roomMaxBatch: Config.Int("ROOM_MAX_BATCH").pipe(Config.withDefault(128)),
  /** The most (estimated) bytes in one such write (see `defaultMaxBatchBytes`). */
  roomMaxBatchBytes: Config.Int("ROOM_MAX_BATCH_BYTES").pipe(Config.withDefault(defaultMaxBatchBytes)),
  /** A busy room's messages go out at most once per this window, together (`RoomHubOptions`); 0 turns it off. */
  broadcastWindow: Config.Duration("BROADCAST_WINDOW").pipe(Config.withDefault(Duration.millis(10))),
  /** A room actor idle this long stops. */
  roomIdleTimeout: Config.Duration("ROOM_IDLE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(60))),
  /** With Redis: nodes with the same name form one cluster and share rooms. */
  clusterName: Config.String("PARLEY_CLUSTER").pipe(Config.withDefault("parley")),
  /** With Redis: the host and port other nodes use to forward sends to this one. */
  runnerHost: Config.String("PARLEY_RUNNER_HOST").pipe(Config.withDefault("localhost")),
  runnerPort: Config.Port("PARLEY_RUNNER_PORT").pipe(Config.withDefault(34431)),
  /** A connection's presence lapses this long after its node stops renewing it. */
  presenceTtl: Config.Duration("PRESENCE_TTL").pipe(Config.withDefault(Duration.seconds(30))),
  /** Presence and typing changes in a room go out at most once per window (per node). */
  presenceWindow: Config.Duration("PRESENCE_WINDOW").pipe(Config.withDefault(Duration.millis(200))),
  /** Users per page of a room's online list: the one sent on subscribe, and each `presence.list`. */
  presencePageSize: Config.schema(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 })),
    "PRESENCE_PAGE_SIZE"
  ).pipe(Config.withDefault(100)),
  /** Rooms with more users online than this get counts only (`presence.count`), no joined/left lists. */
  presenceDiffLimit: Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), "PRESENCE_DIFF_LIMIT").pipe(
    Config.withDefault(500)
  ),
  /** A user's typing state in a room goes out at most once per interval, start or stop alike. */
  typingInterval: Config.Duration("TYPING_INTERVAL").pipe(Config.withDefault(Duration.seconds(2)))
})
export type ServerConfig = Config.Success<typeof ServerConfig>

/** Checked here rather than in Config so that no error message can echo the secret. */
const checkLength = (name: string) => (secret: Redacted.Redacted<string>) =>
  Buffer.byteLength(Redacted.value(secret)) >= minSecretBytes
    ? Effect.succeed(secret)
    : Effect.fail(new Error(`${name} must be at least ${minSecretBytes} bytes`))

/** The previous key, accepted for verification only while clients move to the new one. */
export const resolvePreviousSecret = (config: ServerConfig) =>
  Option.match(config.jwtPreviousSecret, {
    onNone: () => Effect.succeed(Option.none<Redacted.Redacted<string>>()),
    onSome: (secret) => Effect.map(checkLength("JWT_PREVIOUS_SECRET")(secret), Option.some)
  })

/**
 * The signing key: `JWT_SECRET`, or outside production a random key generated once and
 * kept in the data folder (mode 0600), so local restarts keep sessions valid.
 */
export const resolveSigningSecret = (config: ServerConfig): Effect.Effect<Redacted.Redacted<string>, Error> =>
  Option.match(config.jwtSecret, {
    onSome: checkLength("JWT_SECRET"),
    onNone: () =>
      config.production
        ? Effect.fail(new Error("JWT_SECRET is required when PARLEY_ENV=production (at least 32 bytes)"))
        : Effect.try({
            try: () => {
              const file = join(config.dataDir, "jwt-secret")
              if (!existsSync(file)) {
                mkdirSync(config.dataDir, { recursive: true })
                writeFileSync(file, randomBytes(48).toString("base64url"), { mode: 0o600 })
              }
              chmodSync(file, 0o600)
              return Redacted.make(readFileSync(file, "utf8").trim())
            },
            catch: (cause) => new Error(`cannot create the local signing key in ${config.dataDir}: ${cause}`)
          })
  })
