/**
 * The composition root: which implementation backs each service. Production and tests
 * build this same graph; only the configuration differs.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Api } from "@parley/domain"
import { storageLayer } from "@parley/storage"
import { ByteSize, Effect, Layer, Option, type Redacted } from "effect"
import { HttpIncomingMessage, HttpRouter } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { RateLimiter } from "effect/persistence"
import { Admin } from "./admin/admin.ts"
import { AccessTokens } from "./auth/access-tokens.ts"
import { Accounts } from "./auth/accounts.ts"
import { PasswordHasher } from "./auth/passwords.ts"
import { DirectRooms } from "./chat/direct-rooms.ts"
import { RoomActors } from "./chat/room-actor.ts"
import { RoomRouter } from "./chat/room-router.ts"
import { ChatRooms } from "./chat/rooms.ts"
import { ChatSearch } from "./chat/search.ts"
import { layerRoomRouterCluster } from "./cluster/cluster.ts"
import { resolvePreviousSecret, resolveSigningSecret, ServerConfig } from "./config.ts"
import { AuthorizationLive } from "./http/authorization.ts"
import { AccountHandlers } from "./http/handlers/account.ts"
import { AdminHandlers } from "./http/handlers/admin.ts"
import { AuthHandlers } from "./http/handlers/auth.ts"
import { ChatHandlers } from "./http/handlers/chat.ts"
import { SystemHandlers } from "./http/handlers/system.ts"
import { HttpServerInstance } from "./http/node-server.ts"
import { RequestContext } from "./http/request-context.ts"
import { RequestValidationLive } from "./http/request-validation.ts"
import { RequireAdminLive } from "./http/require-admin.ts"
import { openapiPath } from "./http/route-table.ts"
import { EventLoopMetrics } from "./metrics/event-loop.ts"
import { layerMetricsListener } from "./metrics/listener.ts"
import { RateLimitConfig, RateLimits } from "./ratelimit/limits.ts"
import { Readiness } from "./readiness.ts"
import { Broker } from "./realtime/broker.ts"
import * as RedisBroker from "./realtime/broker-redis.ts"
import { RoomHub } from "./realtime/hub.ts"
import { Presence } from "./realtime/presence.ts"
import * as RedisPresence from "./realtime/presence-redis.ts"
import { Revocations } from "./realtime/revocations.ts"
import * as RedisRevocations from "./realtime/revocations-redis.ts"
import { Typing } from "./realtime/typing.ts"
import * as RedisClient from "./redis/client.ts"
import { Connections } from "./ws/connections.ts"
import { WebSocketEndpoint } from "./ws/endpoint.ts"
import { SocketCounts } from "./ws/socket-counts.ts"
import * as RedisSocketCounts from "./ws/socket-counts-redis.ts"

/** Room for a 64 KiB Authorization header to reach the auth check and get its 401. */
const maxHeaderBytes = 80 * 1024

/** Redis when `REDIS_URL` is set; otherwise everything stays in this process. */
/** Built once per server, so every user of Redis shares one connection. */
interface RedisSetup {
  readonly url: Redacted.Redacted<string>
  readonly layer: ReturnType<typeof RedisClient.layer>
}

const presenceOptions = (config: ServerConfig) => ({
  window: config.presenceWindow,
  pageSize: config.presencePageSize,
  diffLimit: config.presenceDiffLimit
})
const typingOptions = (config: ServerConfig) => ({ window: config.presenceWindow, interval: config.typingInterval })

const coordinationLayer = (config: ServerConfig, redis: Option.Option<RedisSetup>) =>
  Option.match(redis, {
    onNone: () =>
      Layer.mergeAll(
        RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreMemory)),
        Readiness.layerStorageOnly,
        Broker.layerMemory,
        Layer.mergeAll(Presence.layerMemory(presenceOptions(config)), Typing.layer(typingOptions(config))).pipe(
          Layer.provide(Broker.layerMemory)
        ),
        Revocations.layerMemory
      ),
    onSome: ({ url, layer }) => {
      const broker = RedisBroker.layerRedis(url)
      return Layer.mergeAll(
        RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreRedis({ prefix: "parley:ratelimit:" }))),
        Readiness.layerWithRedis,
        broker,
        Layer.mergeAll(
          RedisPresence.layerRedis({ ...presenceOptions(config), ttl: config.presenceTtl }),
          Typing.layer(typingOptions(config))
        ).pipe(Layer.provide(broker)),
        RedisRevocations.layerRedis({ cluster: config.clusterName })
      ).pipe(Layer.provide(layer))
    }
  })

/** This node's open sockets; with Redis, each node also publishes its count for the stats of all. */
const socketsLayer = (config: ServerConfig, redis: Option.Option<RedisSetup>) =>
  Option.match(redis, {
    onNone: () => SocketCounts.layerMemory,
    onSome: ({ layer }) =>
      RedisSocketCounts.layerRedis({ cluster: config.clusterName, ttl: config.presenceTtl }).pipe(Layer.provide(layer))
  }).pipe(Layer.provideMerge(Connections.layer))

/** Who runs a room's actor: always this node without Redis; the room's shard owner with it. */
const roomRouting = (config: ServerConfig, redis: Option.Option<RedisSetup>) =>
  Option.match(redis, {
    onNone: () => RoomRouter.layerLocal,
    onSome: ({ layer }) =>
      layerRoomRouterCluster({
        name: config.clusterName,
        runnerHost: config.runnerHost,
        runnerPort: config.runnerPort
      }).pipe(Layer.provide(layer))
  })

export const ServerLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const rateLimits = yield* RateLimitConfig
    const secret = yield* resolveSigningSecret(config)
    const previousSecret = yield* resolvePreviousSecret(config)

    const storage = storageLayer(config)
    const auth = Accounts.layer({
      idle: config.sessionIdleTtl,
      absolute: config.sessionAbsoluteTtl,
      refreshGrace: config.refreshReuseGrace,
      // Every node derives the same successor tokens; mid key rotation, also the old key's.
      rotationSecrets: [secret, ...Option.toArray(previousSecret)]
    }).pipe(
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
    const redis = Option.map(config.redisUrl, (url) => ({ url, layer: RedisClient.layer(url) }))
    const coordination = coordinationLayer(config, redis)
    const actors = RoomActors.layer({
      mailboxCapacity: config.roomMailboxCapacity,
      maxBatch: config.roomMaxBatch,
      maxBatchBytes: config.roomMaxBatchBytes,
      idleTimeout: config.roomIdleTimeout
    })
    const chat = Layer.mergeAll(
      ChatRooms.layer,
      DirectRooms.layer,
      // The same ChatRooms (layers are shared by reference): search asks it who may read what.
      ChatSearch.layer.pipe(Layer.provide(ChatRooms.layer)),
      roomRouting(config, redis),
      RoomHub.layer({ broadcastWindow: config.broadcastWindow })
    ).pipe(Layer.provide(actors))
    const httpServer = HttpServerInstance.layer({ maxHeaderSize: maxHeaderBytes })

    const handlers = Layer.mergeAll(
      SystemHandlers,
      AuthHandlers({ trustProxy: config.trustProxy }),
      AccountHandlers,
      ChatHandlers,
      AdminHandlers
    ).pipe(Layer.provideMerge(Layer.mergeAll(AuthorizationLive, RequireAdminLive, RequestValidationLive)))
    const routes = HttpApiBuilder.layer(Api, { openapiPath }).pipe(Layer.provide(handlers))
    const core = Layer.mergeAll(
      auth,
      chat,
      RateLimits.layer(rateLimits, { shared: Option.isSome(redis) }),
      socketsLayer(config, redis)
    )
    const services = Admin.layer.pipe(
      Layer.provideMerge(core),
      Layer.provideMerge(coordination),
      Layer.provideMerge(storage)
    )
    const websocket = Layer.merge(WebSocketEndpoint, httpServer)

    // `services` is provided last so it is built first: the port opens only once storage is
    // migrated and Redis answers. A connection accepted earlier would wait for a handler
    // that does not exist yet, and never be answered.
    // Prometheus scrapes `/metrics` on a listener of its own (loopback by default), opened
    // before the public port, so its address is in the log by the time `/healthz` answers.
    const metrics = Layer.merge(
      layerMetricsListener({ host: config.metricsHost, port: config.metricsPort }),
      EventLoopMetrics
    )
    return HttpRouter.serve(Layer.mergeAll(routes, RequestContext), { disableLogger: true }).pipe(
      Layer.provide(
        Layer.unwrap(
          Effect.map(HttpServerInstance, ({ server }) =>
            NodeHttpServer.layer(() => server, { port: config.port, host: config.host })
          )
        )
      ),
      Layer.provide(Layer.succeed(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(config.maxBodyBytes))),
      Layer.provideMerge(websocket.pipe(Layer.provide(httpServer))),
      Layer.provide(Layer.merge(services, metrics))
    )
  })
)
