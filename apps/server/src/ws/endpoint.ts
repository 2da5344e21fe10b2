/**
 * `/ws`: the upgrade (origin allowlist, access token, optional `room_id`), then the socket is
 * handed to its connection (`connection.ts`), which runs everything after that.
 */
import type { IncomingMessage } from "node:http"
import { Socket } from "node:net"
import type { Duplex } from "node:stream"
import { CloseCode, RoomId } from "@parley/domain"
import { Clock, Config, Duration, Effect, Fiber, Layer, Option, Result, Schema } from "effect"
import { type WebSocket, WebSocketServer } from "ws"
import { AccessTokens } from "../auth/access-tokens.ts"
import { Accounts } from "../auth/accounts.ts"
import { SendDeadlineConfig } from "../chat/send-deadline.ts"
import { HttpServerInstance } from "../http/node-server.ts"
import { securityHeaders } from "../http/request-context.ts"
import { webSocketPath } from "../http/route-table.ts"
import { type Accepted, attach, makeConnectionEnv, openConnection } from "./connection.ts"
import { Connections } from "./connections.ts"
import { sampleBufferedBytes } from "./metrics.ts"
import type { ConnectionOptions } from "./state.ts"

export const WebSocketConfig = Config.all({
  /** Larger frames close the connection with 1009. */
  maxFrameBytes: Config.Int("WS_MAX_FRAME_BYTES").pipe(Config.withDefault(64 * 1024)),
  maxBufferedBytes: Config.Int("WS_MAX_BUFFERED_BYTES").pipe(Config.withDefault(1024 * 1024)),
  /** A peer that has not answered the previous ping by the next one is dropped. */
  pingInterval: Config.Duration("WS_PING_INTERVAL").pipe(Config.withDefault(Duration.seconds(30))),
  /** How often each connection re-checks its session (revoked, account disabled). */
  reauthInterval: Config.Duration("WS_REAUTH_INTERVAL").pipe(Config.withDefault(Duration.seconds(60))),
  /** Rooms one connection may listen to at once; one more is refused (`limit_reached`). */
  maxSubscriptions: Config.Int("WS_MAX_SUBSCRIPTIONS").pipe(Config.withDefault(200)),
  /** Sockets one user may hold open on this node; one more upgrade is refused (429 `limit_reached`). */
  maxConnectionsPerUser: Config.Int("WS_MAX_CONNECTIONS_PER_USER").pipe(Config.withDefault(50)),
  /**
   * Subscribes, resumes and unsubscribes one connection may send per window; more get `rate_limited`.
   * At least `maxSubscriptions`, so a client that held the most rooms allowed can resume them all
   * at once after a reconnect; twice that by default, so it can still change rooms in that window.
   */
  subscribeRate: Config.Int("WS_SUBSCRIBE_RATE").pipe(Config.withDefault(400)),
  subscribeWindow: Config.Duration("WS_SUBSCRIBE_WINDOW").pipe(Config.withDefault(Duration.seconds(10))),
  /** How long a connection reuses a "may post in this room" answer; news of a change clears it sooner. */
  postCheckTtl: Config.Duration("WS_POST_CHECK_TTL").pipe(Config.withDefault(Duration.seconds(10))),
  sendDeadline: SendDeadlineConfig,
  /** Browser origins allowed to connect; `*` allows any. Clients that send no Origin are not browsers. */
  allowedOrigins: Config.String("WS_ALLOWED_ORIGINS").pipe(
    Config.withDefault(""),
    Config.map((s) =>
      s
        .split(",")
        .map((o) => o.trim())
        .filter((o) => o.length > 0)
    )
  )
})
export type WebSocketConfig = Config.Success<typeof WebSocketConfig>

export const connectionOptions = (config: WebSocketConfig): ConnectionOptions => ({
  maxBufferedBytes: config.maxBufferedBytes,
  postCheckTtlMs: Duration.toMillis(config.postCheckTtl),
  sendDeadlineMs: Duration.toMillis(config.sendDeadline),
  maxSubscriptions: config.maxSubscriptions,
  subscribeRate: config.subscribeRate,
  subscribeWindowMs: Duration.toMillis(config.subscribeWindow),
  pingIntervalMs: Duration.toMillis(config.pingInterval),
  reauthIntervalMs: Duration.toMillis(config.reauthInterval),
  closeGraceMs,
  sweepMs: 1000,
  // Inbound frames waiting for their turn; beyond this the client is flooding. The server's
  // own re-checks have a few more places, so a flood delays them but never pushes them out.
  inbound: { frames: 256, reserve: 16 }
})

/** How long a closing peer gets to answer the close handshake before it is cut off. */
const closeGraceMs = 2000

/** An HTTP answer to an upgrade we refuse, in the API's JSON error shape. */
const refuse = (socket: Duplex, status: number, code: string, message: string) => {
  const body = JSON.stringify({ error: { code, message } })
  const reason =
    {
      400: "Bad Request",
      401: "Unauthorized",
      403: "Forbidden",
      404: "Not Found",
      429: "Too Many Requests",
      503: "Service Unavailable"
    }[status] ?? "Error"
  // Written on the raw socket, past the HTTP middleware: the same headers as every other response.
  const headers = { ...securityHeaders, "cache-control": "no-store", "x-request-id": crypto.randomUUID() }
  socket.on("error", () => {})
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `${Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("")}Connection: close\r\n\r\n${body}`
  )
}

const originAllowed = (request: IncomingMessage, allowed: ReadonlyArray<string>) => {
  const origin = request.headers.origin
  if (origin === undefined || allowed.includes("*") || allowed.includes(origin)) return true
  // A page served by this host may always connect back to it.
  try {
    return new URL(origin).host === request.headers.host
  } catch {
    return false
  }
}

const bearer = (request: IncomingMessage, query: URLSearchParams) =>
  query.get("token") ?? /^Bearer (.+)$/i.exec(request.headers.authorization ?? "")?.[1] ?? null

/** The request target's path and query, without building a `URL` (13 µs of an upgrade's CPU): the path must be exactly `/ws`. */
const splitTarget = (target: string) => {
  const at = target.indexOf("?")
  return at === -1
    ? { path: target, query: new URLSearchParams() }
    : { path: target.slice(0, at), query: new URLSearchParams(target.slice(at + 1)) }
}

const decodeRoomId = Schema.decodeUnknownOption(RoomId)

// Node takes its own error listener off a socket it hands over for an upgrade. Until `ws`
// adds one, a client resetting the connection (while its token is checked) would be an
// unhandled 'error' event, and that ends the process. One shared function, not a closure per socket.
function destroyOnError(this: Duplex) {
  this.destroy()
}

export const WebSocketEndpoint = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* WebSocketConfig
    const accounts = yield* Accounts
    const tokens = yield* AccessTokens
    const http = yield* HttpServerInstance
    const connections = yield* Connections
    const env = yield* makeConnectionEnv(connectionOptions(config))
    const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes })
    yield* sampleBufferedBytes(() => wss.clients)

    /** Checks the request; what it yields is everything the connection needs (the request is not kept). */
    const authorize = (request: IncomingMessage, socket: Duplex) =>
      Effect.gen(function* () {
        const { path, query } = splitTarget(request.url ?? "/")
        if (path !== webSocketPath) return refuse(socket, 404, "not_found", "not found")
        if (!originAllowed(request, config.allowedOrigins)) {
          return refuse(socket, 403, "forbidden", "this origin may not open a WebSocket here")
        }
        const roomParam = query.get("room_id")
        const roomId = roomParam === null ? Option.none<RoomId>() : decodeRoomId(roomParam)
        if (roomParam !== null && Option.isNone(roomId)) {
          return refuse(socket, 400, "invalid_request", "room_id must be a UUID")
        }
        const token = bearer(request, query)
        if (token === null) return refuse(socket, 401, "unauthorized", "missing, invalid or expired access token")
        const claims = yield* Effect.option(tokens.verify(token))
        if (Option.isNone(claims))
          return refuse(socket, 401, "unauthorized", "missing, invalid or expired access token")
        // A revocation heard from here on may have been missed by this read: see `Connections`.
        const authenticatedAt = yield* Clock.currentTimeMillis
        // The URL's room is read together with the session (one trip to storage, not two); what
        // it says is used by the subscribe once the socket is open, so a refusal still names the room.
        const [caller, roomAccess] = yield* Effect.all(
          [
            Effect.result(accounts.authenticateSession(claims.value.sub, claims.value.sid)),
            Option.isNone(roomId) ? Effect.succeed(null) : Effect.exit(env.rooms.access(claims.value.sub, roomId.value))
          ],
          { concurrency: 2 }
        )
        if (Result.isFailure(caller)) {
          return caller.failure._tag === "ServiceUnavailable"
            ? refuse(socket, 503, "service_unavailable", "a dependency is unavailable; try again shortly")
            : refuse(socket, 401, "unauthorized", "missing, invalid or expired access token")
        }
        // Counted on this node only (a cross-node count would cost a Redis round trip per upgrade).
        // Upgrades racing each other may pass together; the registry never holds more than a few over.
        if (connections.countOf(caller.success.userId) >= config.maxConnectionsPerUser) {
          return refuse(
            socket,
            429,
            "limit_reached",
            `at most ${config.maxConnectionsPerUser} open WebSockets per user on one server; close one first`
          )
        }
        return {
          caller: caller.success,
          authenticatedAt,
          expiresAt: claims.value.exp * 1000,
          roomId: Option.getOrNull(roomId),
          roomAccess
        } satisfies Accepted
      })

    const accept = (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      Effect.gen(function* () {
        const accepted = yield* authorize(request, socket)
        if (accepted === undefined) return
        const ws = yield* upgrade(request, socket, head)
        if (ws === null) return
        attach(ws, yield* openConnection(env, ws, accepted))
      }).pipe(
        Effect.catchCause((cause) =>
          Effect.andThen(
            Effect.logError("websocket upgrade failed", cause),
            Effect.sync(() => socket.destroy())
          )
        )
      )

    /**
     * Completes the handshake; `null` when `ws` refused it (bad headers) or the client went
     * away meanwhile, in which case `handleUpgrade` never calls back. The new socket is
     * paused: no frame is read, and so none lost, until its connection has its listeners.
     */
    const upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      Effect.callback<WebSocket | null>((resume) => {
        let settled = false
        const gone = () => {
          if (settled) return
          settled = true
          resume(Effect.succeed(null))
        }
        socket.once("close", gone)
        if (socket.destroyed) return gone()
        // The handshake's answer is held until the loop's next turn, so a URL subscribe's ack
        // and online list, written meanwhile, leave with it in one system call instead of two.
        if (socket instanceof Socket) {
          socket.cork()
          setImmediate(() => socket.uncork())
        }
        wss.handleUpgrade(request, socket, head, (ws) => {
          socket.off("close", gone)
          socket.off("error", destroyOnError)
          if (settled) return ws.terminate()
          settled = true
          ws.pause()
          resume(Effect.succeed(ws))
        })
      })

    http.onUpgrade((request, socket, head) => {
      socket.on("error", destroyOnError)
      env.runFork(accept(request, socket, head))
    })
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        // Clients that do not answer the close handshake must not hold up the shutdown.
        const cutOff = yield* Effect.forkChild(
          Effect.andThen(
            Effect.sleep(closeGraceMs),
            Effect.sync(() => {
              for (const client of wss.clients) client.terminate()
            })
          )
        )
        yield* Effect.callback<void>((resume) => {
          for (const client of wss.clients) client.close(CloseCode.goingAway, "server shutting down")
          wss.close(() => resume(Effect.void))
        })
        yield* Fiber.interrupt(cutOff)
      })
    )
  })
)
