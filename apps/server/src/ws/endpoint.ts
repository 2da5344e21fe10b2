/**
 * `/ws`: the upgrade (origin allowlist, access token, optional `room_id`), then one
 * connection's transport: an ordered inbound queue, pings that find dead peers, and the
 * timers that close a socket whose token expired or whose session was revoked.
 */
import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { CloseCode, RoomId } from "@parley/domain"
import { Config, Duration, Effect, Fiber, FiberSet, Layer, Metric, Option, Queue, Schema } from "effect"
import { WebSocketServer } from "ws"
import { AccessTokens } from "../auth/access-tokens.ts"
import { Accounts } from "../auth/accounts.ts"
import { HttpServerInstance } from "../http/node-server.ts"
import { type ConnectionOptions, makeConnection, slowConsumersClosed } from "./connection.ts"

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

/** Inbound frames waiting for their turn; beyond this the client is flooding. */
const inboundCapacity = 256

/** An HTTP answer to an upgrade we refuse, in the API's JSON error shape. */
const refuse = (socket: Duplex, status: number, code: string, message: string) => {
  const body = JSON.stringify({ error: { code, message } })
  const reason = { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found" }[status] ?? "Error"
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
        const caller = token === null ? undefined : yield* Effect.option(accounts.authenticate(token))
        const claims = token === null ? undefined : yield* Effect.option(tokens.verify(token))
        if (caller === undefined || claims === undefined || Option.isNone(caller) || Option.isNone(claims)) {
          return refuse(socket, 401, "unauthorized", "missing, invalid or expired access token")
        }
        const ws = yield* Effect.callback<import("ws").WebSocket>((resume) => {
          wss.handleUpgrade(request, socket, head, (ws) => resume(Effect.succeed(ws)))
        })
        yield* serve(ws, token!, caller.value.user, claims.value.exp * 1000, roomId)
      }).pipe(
        Effect.catchCause((cause) =>
          Effect.andThen(
            Effect.logError("websocket upgrade failed", cause),
            Effect.sync(() => socket.destroy())
          )
        )
      )

    const serve = (
      ws: import("ws").WebSocket,
      token: string,
      user: Parameters<typeof makeConnection>[1],
      expiresAt: number,
      roomId: Option.Option<RoomId>
    ) =>
      Effect.gen(function* () {
        const connId = crypto.randomUUID()
        const closeWith = (code: number, reason: string) => {
          if (ws.readyState === ws.OPEN) ws.close(code, reason)
          // A peer that never reads never completes the close handshake.
          setTimeout(() => ws.terminate(), 2000).unref()
        }
        const connection = yield* makeConnection(ws, user, connId, options, () => {
          runFork(Metric.update(slowConsumersClosed, 1))
          closeWith(CloseCode.tryAgainLater, "too slow: outbound queue full, reconnect and resume")
        })
        const inbound = yield* Queue.bounded<Effect.Effect<void>>(inboundCapacity)
        if (Option.isSome(roomId)) Queue.offerUnsafe(inbound, connection.subscribe(roomId.value))
        ws.on("message", (data, isBinary) => {
          const text = isBinary ? null : data.toString()
          if (!Queue.offerUnsafe(inbound, connection.receive(text))) {
            connection.send(
              JSON.stringify({
                type: "error",
                payload: { code: "rate_limited", message: "too many events in flight; slow down" }
              })
            )
          }
        })
        const worker = runFork(Effect.forever(Effect.flatten(Queue.take(inbound))))

        let alive = true
        ws.on("pong", () => {
          alive = true
        })
        const timers = [
          setInterval(() => {
            if (!alive) return ws.terminate()
            alive = false
            ws.ping()
          }, Duration.toMillis(config.pingInterval)),
          setInterval(() => {
            runFork(
              accounts.authenticate(token).pipe(
                Effect.catchTag("Unauthorized", () =>
                  Effect.sync(() =>
                    Date.now() < expiresAt
                      ? closeWith(CloseCode.sessionRevoked, "session revoked or account disabled")
                      : undefined
                  )
                ),
                Effect.ignore
              )
            )
          }, Duration.toMillis(config.reauthInterval)),
          setTimeout(
            () => closeWith(CloseCode.tokenExpired, "access token expired; refresh and reconnect"),
            expiresAt - Date.now()
          )
        ]
        ws.on("close", () => {
          for (const timer of timers) clearTimeout(timer)
          runFork(Fiber.interrupt(worker).pipe(Effect.andThen(connection.close)))
        })
        ws.on("error", () => {})
      })

    http.onUpgrade((request, socket, head) => {
      runFork(accept(request, socket, head))
    })
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        for (const client of wss.clients) client.close(CloseCode.goingAway, "server shutting down")
        wss.close(() => resume(Effect.void))
      })
    )
  })
)
