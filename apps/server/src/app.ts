/**
 * The composition root: which implementation backs each service. Production and tests
 * build this same graph; only the configuration differs.
 */
import { createServer } from "node:http"
import { join } from "node:path"
import { NodeHttpServer } from "@effect/platform-node"
import { Api } from "@parley/domain"
import { CassandraConfig, CassandraStorage, SqliteStorage } from "@parley/storage"
import { ByteSize, Effect, Layer, Option } from "effect"
import { HttpIncomingMessage, HttpRouter } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { RateLimiter } from "effect/persistence"
import { AccessTokens } from "./auth/access-tokens.ts"
import { Accounts } from "./auth/accounts.ts"
import { PasswordHasher } from "./auth/passwords.ts"
import { resolvePreviousSecret, resolveSigningSecret, ServerConfig } from "./config.ts"
import { AuthorizationLive } from "./http/authorization.ts"
import { AccountHandlers } from "./http/handlers/account.ts"
import { AuthHandlers } from "./http/handlers/auth.ts"
import { SystemHandlers } from "./http/handlers/system.ts"
import { RequestContext } from "./http/request-context.ts"
import { RequestValidationLive } from "./http/request-validation.ts"
import { RateLimitConfig, RateLimits } from "./ratelimit/limits.ts"
import { Readiness } from "./readiness.ts"
import * as RedisClient from "./redis/client.ts"

/** Room for a 64 KiB Authorization header to reach the auth check and get its 401. */
const maxHeaderBytes = 80 * 1024

const storageLayer = (config: ServerConfig) =>
  config.storage === "cassandra"
    ? Layer.unwrap(
        Effect.gen(function* () {
          return CassandraStorage.layer(yield* CassandraConfig)
        })
      )
    : SqliteStorage.layer(join(config.dataDir, "parley.db"))

/** Redis when `REDIS_URL` is set; otherwise everything stays in this process. */
const coordinationLayer = (config: ServerConfig) =>
  Option.match(config.redisUrl, {
    onNone: () =>
      Layer.merge(RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreMemory)), Readiness.layerStorageOnly),
    onSome: (url) =>
      Layer.merge(
        RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreRedis({ prefix: "parley:ratelimit:" }))),
        Readiness.layerWithRedis
      ).pipe(Layer.provide(RedisClient.layer(url)))
  })

export const ServerLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const rateLimits = yield* RateLimitConfig
    const secret = yield* resolveSigningSecret(config)
    const previousSecret = yield* resolvePreviousSecret(config)

    const storage = storageLayer(config)
    const auth = Accounts.layer({ idle: config.sessionIdleTtl, absolute: config.sessionAbsoluteTtl }).pipe(
      Layer.provideMerge(
        AccessTokens.layer({
          secret,
          previousSecret,
          issuer: config.jwtIssuer,
          audience: config.jwtAudience,
          ttl: config.accessTokenTtl
        })
      ),
      Layer.provide(PasswordHasher.layer(config.maxConcurrentHashes))
    )
    const coordination = coordinationLayer(config)

    const handlers = Layer.mergeAll(
      SystemHandlers,
      AuthHandlers({ trustProxy: config.trustProxy }),
      AccountHandlers
    ).pipe(
      Layer.provide(RateLimits.layer(rateLimits)),
      Layer.provideMerge(Layer.merge(AuthorizationLive, RequestValidationLive))
    )
    const routes = HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(Layer.provide(handlers))
    const services = auth.pipe(Layer.provideMerge(coordination), Layer.provideMerge(storage))

    // `services` is provided last so it is built first: the port opens only once storage is
    // migrated and Redis answers. A connection accepted earlier would wait for a handler
    // that does not exist yet, and never be answered.
    return HttpRouter.serve(Layer.merge(routes, RequestContext), { disableLogger: true }).pipe(
      Layer.provide(
        NodeHttpServer.layer(() => createServer({ maxHeaderSize: maxHeaderBytes }), {
          port: config.port,
          host: config.host
        })
      ),
      Layer.provide(Layer.succeed(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(config.maxBodyBytes))),
      Layer.provide(services)
    )
  })
)
