/**
 * `/ws`: the upgrade (origin allowlist, access token, optional `room_id`), then one
 * connection's transport: an ordered inbound queue, pings that find dead peers, and the
 * timers that close a socket whose token expired or whose session was revoked.
 */
import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { CloseCode, RoomId } from "@parley/domain"
import { Clock, Config, Duration, Effect, Fiber, FiberSet, Layer, Metric, Option, Result, Schema } from "effect"
import { type WebSocket, WebSocketServer } from "ws"
import { AccessTokens } from "../auth/access-tokens.ts"
import { Accounts, type Caller } from "../auth/accounts.ts"
import { HttpServerInstance } from "../http/node-server.ts"
import { type ConnectionOptions, makeConnection, slowConsumersClosed } from "./connection.ts"
import { Connections } from "./connections.ts"
import { makeInbound } from "./inbound.ts"

export const WebSocketConfig = Config.all({
  /** Larger frames close the connection with 1009. */
  maxFrameBytes: Config.Int("WS_MAX_FRAME_BYTES").pipe(Config.withDefault(64 * 1024)),
  maxBufferedBytes: Config.Int("WS_MAX_BUFFERED_BYTES").pipe(Config.withDefault(1024 * 1024)),
  /** A peer that has not answered the previous ping by the next one is dropped. */
  pingInterval: Config.Duration("WS_PING_INTERVAL").pipe(Config.withDefault(Duration.seconds(30))),
  /** How often each connection re-checks its session (revoked, account disabled). */
  reauthInterval: Config.Duration("WS_REAUTH_INTERVAL").pipe(Config.withDefault(Duration.seconds(60))),
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

const connectionOptions = (config: WebSocketConfig): ConnectionOptions => ({
  maxBufferedBytes: config.maxBufferedBytes,
  typingIntervalMs: 2000,
  postCheckTtlMs: 10_000
})

/**
 * Inbound frames waiting for their turn; beyond this the client is flooding. The server's own
 * re-checks have a few more places, so a flood delays them but never pushes them out.
 */
const inboundCapacity = { frames: 256, reserve: 16 }

/** How long a closing peer gets to answer the close handshake before it is cut off. */
const closeGraceMs = 2000

/** The longest delay a Node timer takes; longer ones fire immediately. */
const maxTimerMs = 2 ** 31 - 1

/** An HTTP answer to an upgrade we refuse, in the API's JSON error shape. */
const refuse = (socket: Duplex, status: number, code: string, message: string) => {
  const body = JSON.stringify({ error: { code, message } })
  const reason =
    { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 503: "Service Unavailable" }[
      status
    ] ?? "Error"
  socket.on("error", () => {})
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${crypto.randomUUID()}\r\nConnection: close\r\n\r\n${body}`
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

const bearer = (request: IncomingMessage, url: URL) =>
  url.searchParams.get("token") ?? /^Bearer (.+)$/i.exec(request.headers.authorization ?? "")?.[1] ?? null

const decodeRoomId = Schema.decodeUnknownOption(RoomId)

export const WebSocketEndpoint = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* WebSocketConfig
    const accounts = yield* Accounts
    const tokens = yield* AccessTokens
    const http = yield* HttpServerInstance
    const connections = yield* Connections
    const runFork = yield* FiberSet.makeRuntime<Effect.Services<ReturnType<typeof makeConnection>>>()
    const options = connectionOptions(config)
    const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes })

    const accept = (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      Effect.gen(function* () {
        const url = new URL(request.url ?? "/", "http://localhost")
        if (url.pathname !== "/ws") return refuse(socket, 404, "not_found", "not found")
        if (!originAllowed(request, config.allowedOrigins)) {
          return refuse(socket, 403, "forbidden", "this origin may not open a WebSocket here")
        }
        const roomParam = url.searchParams.get("room_id")
        const roomId = roomParam === null ? Option.none<RoomId>() : decodeRoomId(roomParam)
        if (roomParam !== null && Option.isNone(roomId)) {
          return refuse(socket, 400, "invalid_request", "room_id must be a UUID")
        }
        const token = bearer(request, url)
        if (token === null) return refuse(socket, 401, "unauthorized", "missing, invalid or expired access token")
        // A revocation heard from here on may have been missed by this read: see `Connections`.
        const authenticatedAt = yield* Clock.currentTimeMillis
        const caller = yield* Effect.result(accounts.authenticate(token))
        const claims = yield* Effect.option(tokens.verify(token))
        if (Result.isFailure(caller) && caller.failure._tag === "ServiceUnavailable") {
          return refuse(socket, 503, "service_unavailable", "a dependency is unavailable; try again shortly")
        }
        if (Result.isFailure(caller) || Option.isNone(claims)) {
          return refuse(socket, 401, "unauthorized", "missing, invalid or expired access token")
        }
        const ws = yield* upgrade(request, socket, head)
        if (ws === null) return
        yield* serve(ws, token, caller.success, authenticatedAt, claims.value.exp * 1000, roomId)
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
     * paused: no frame is read, and so none lost, until `serve` has its listeners in place.
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
        wss.handleUpgrade(request, socket, head, (ws) => {
          socket.off("close", gone)
          if (settled) return ws.terminate()
          settled = true
          ws.pause()
          resume(Effect.succeed(ws))
        })
      })

    const serve = (
      ws: WebSocket,
      token: string,
      caller: Caller,
      authenticatedAt: number,
      expiresAt: number,
      roomId: Option.Option<RoomId>
    ) =>
      Effect.gen(function* () {
        const { user } = caller
        const connId = crypto.randomUUID()
        /** Set once the session is revoked or a re-check was lost: nothing more is read or run for this socket. */
        let stopped = false
        const closeWith = (code: number, reason: string) => {
          if (ws.readyState === ws.OPEN) ws.close(code, reason)
          // A peer that never reads never completes the close handshake.
          setTimeout(() => ws.terminate(), closeGraceMs).unref()
        }
        const inbound = yield* makeInbound(inboundCapacity, () => {
          if (stopped) return
          stopped = true
          runFork(
            Effect.logWarning("closing a connection (1013): its inbound queue is full, a re-check found no place").pipe(
              Effect.annotateLogs({ conn_id: connId, user_id: user.id })
            )
          )
          closeWith(CloseCode.tryAgainLater, "too many events in flight: reconnect and resume")
        })
        const connection = yield* makeConnection(
          ws,
          user,
          connId,
          options,
          () => {
            runFork(
              Effect.andThen(
                Metric.update(slowConsumersClosed, 1),
                Effect.logWarning("closing a slow consumer (1013): its outbound buffer is full").pipe(
                  Effect.annotateLogs({ conn_id: connId, user_id: user.id, buffered_bytes: ws.bufferedAmount })
                )
              )
            )
            closeWith(CloseCode.tryAgainLater, "too slow: outbound queue full, reconnect and resume")
          },
          inbound.offerControl
        )
        if (Option.isSome(roomId)) inbound.offerControl(connection.subscribe(roomId.value))
        ws.on("message", (data, isBinary) => {
          if (stopped) return
          const text = isBinary ? null : data.toString()
          if (!inbound.offerFrame(connection.receive(text))) connection.overflow(text)
        })
        // One item failing in an unforeseen way must not stop the connection from reading on.
        const worker = runFork(
          Effect.forever(
            Effect.flatMap(inbound.take, (item) => (stopped ? Effect.void : item)).pipe(
              Effect.catchCause((cause) => Effect.logError("websocket inbound item failed", cause))
            )
          )
        )

        let alive = true
        ws.on("pong", () => {
          alive = true
        })
        let reauthRunning = false
        const timers = [
          setInterval(() => {
            if (!alive) return ws.terminate()
            alive = false
            ws.ping()
          }, Duration.toMillis(config.pingInterval)),
          setInterval(() => {
            // A slow store must not pile up checks: one at a time per connection.
            if (reauthRunning) return
            reauthRunning = true
            runFork(
              accounts.authenticate(token).pipe(
                // Still signed in: re-check the rooms it listens to, in order with its events.
                Effect.tap(() => Effect.sync(() => inbound.offerControl(connection.revalidate))),
                Effect.catchTag("Unauthorized", () =>
                  Effect.sync(() =>
                    Date.now() < expiresAt
                      ? closeWith(CloseCode.sessionRevoked, "session revoked or account disabled")
                      : undefined
                  )
                ),
                Effect.ignore,
                Effect.ensuring(
                  Effect.sync(() => {
                    reauthRunning = false
                  })
                )
              )
            )
          }, Duration.toMillis(config.reauthInterval))
        ]
        // Node timers overflow past 2^31-1 ms (~24.8 days) and fire at once: wait in steps.
        let expiry: ReturnType<typeof setTimeout> | undefined
        const armExpiry = () => {
          const left = expiresAt - Date.now()
          if (left <= 0) return closeWith(CloseCode.tokenExpired, "access token expired; refresh and reconnect")
          expiry = setTimeout(armExpiry, Math.min(left, maxTimerMs))
        }
        armExpiry()
        // Revocations from any node close it at once; the periodic re-check above is the backstop.
        const unregister = yield* connections.add({
          userId: caller.userId,
          sessionId: caller.sessionId,
          authenticatedAt,
          revoke: () => {
            stopped = true
            closeWith(CloseCode.sessionRevoked, "session revoked or account disabled")
          },
          postingChanged: connection.postingChanged
        })
        let cleanedUp = false
        const cleanup = () => {
          if (cleanedUp) return
          cleanedUp = true
          unregister()
          for (const timer of timers) clearInterval(timer)
          clearTimeout(expiry)
          runFork(Fiber.interrupt(worker).pipe(Effect.andThen(connection.close)))
        }
        ws.on("close", cleanup)
        ws.on("error", () => {})
        // Closed before the listeners were in place (a reset while paused): clean up now.
        if (ws.readyState === ws.CLOSED) return cleanup()
        ws.resume()
      })

    http.onUpgrade((request, socket, head) => {
      // Node takes its own error listener off a socket it hands over for an upgrade. Until
      // `ws` adds one, a client resetting the connection (while its token is checked) would
      // be an unhandled 'error' event, and that ends the process.
      socket.on("error", () => socket.destroy())
      runFork(accept(request, socket, head))
    })
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        for (const client of wss.clients) client.close(CloseCode.goingAway, "server shutting down")
        // Clients that do not answer the close handshake must not hold up the shutdown.
        const timer = setTimeout(() => {
          for (const client of wss.clients) client.terminate()
        }, closeGraceMs)
        wss.close(() => {
          clearTimeout(timer)
          resume(Effect.void)
        })
      })
    )
  })
)
