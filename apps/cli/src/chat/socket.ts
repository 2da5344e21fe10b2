/**
 * The one WebSocket of a `parley` session, kept open: it reconnects after any drop with
 * backoff and jitter, and tells its owner when it is up (so the owner re-subscribes with
 * `channel.resume`) and when it is down. Frames in are decoded with the domain's
 * `ServerEvent` Schema; frames out are `ClientEvent`s, encoded (and so validated) with it.
 *
 * Close codes (domain `CloseCode`): 4003 means the session was revoked or the user disabled,
 * so it does not reconnect; 4001 (token expired) and an HTTP 401 at the upgrade refresh the
 * access token and reconnect at once. Anything else is a drop: reconnect after a delay.
 * A server that stops sending (no ping, no frame) for `silenceMs` is treated as gone.
 */
import { ClientEvent, CloseCode, ServerEvent } from "@parley/domain"
import { Schema } from "effect"
import WebSocket from "ws"
import { safeText } from "../shared/safe-text.ts"
import { SignedOutError } from "./auth.ts"
import { type Backoff, backoffDelay, defaultBackoff } from "./backoff.ts"

export interface SocketHandlers {
  readonly onOpen: () => void
  readonly onEvent: (event: ServerEvent) => void
  /** The connection is down; a new attempt starts in `retryInMs`. */
  readonly onDown: (reason: string, retryInMs: number) => void
  /** The session is over (4003, or the token could not be refreshed): no more attempts. */
  readonly onSignedOut: (error: SignedOutError) => void
}

export interface SocketAuth {
  readonly accessToken: () => Promise<string>
  readonly refresh: () => Promise<string>
}

/** What the controller needs from a connection; tests substitute a fake. */
export interface ChatConnection {
  /** False when the frame could not be written (not connected): nothing was sent. */
  readonly send: (frame: ClientEvent) => boolean
  readonly close: () => void
}

const decodeEvent = Schema.decodeUnknownOption(ServerEvent)
const encodeEvent = Schema.encodeSync(ClientEvent)

export const wsUrl = (server: string) => `${server.replace(/^http/, "ws").replace(/\/+$/, "")}/ws`

export const openChatSocket = (
  server: string,
  auth: SocketAuth,
  handlers: SocketHandlers,
  options: { readonly backoff?: Backoff; readonly silenceMs?: number } = {}
): ChatConnection => {
  const backoff = options.backoff ?? defaultBackoff
  const silenceMs = options.silenceMs ?? 75_000
  let socket: WebSocket | undefined
  let attempt = 0
  let closed = false
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let silenceTimer: ReturnType<typeof setTimeout> | undefined

  const stopTimers = () => {
    if (retryTimer !== undefined) clearTimeout(retryTimer)
    if (silenceTimer !== undefined) clearTimeout(silenceTimer)
    retryTimer = silenceTimer = undefined
  }

  const signedOut = (error: SignedOutError) => {
    closed = true
    stopTimers()
    handlers.onSignedOut(error)
  }

  const retry = (reason: string, now = false) => {
    if (closed) return
    socket = undefined
    const delay = now ? 0 : backoffDelay(attempt++, backoff)
    handlers.onDown(reason, delay)
    retryTimer = setTimeout(connect, delay)
  }

  /** Token refused (401 at the upgrade, or 4001): refresh, then come straight back. */
  const refreshAndRetry = (reason: string) => {
    auth.refresh().then(
      () => retry(reason, attempt++ === 0),
      (error) => (error instanceof SignedOutError ? signedOut(error) : retry(reason))
    )
  }

  const watchSilence = (ws: WebSocket) => {
    if (silenceTimer !== undefined) clearTimeout(silenceTimer)
    silenceTimer = setTimeout(() => ws.terminate(), silenceMs)
  }

  const connect = async () => {
    retryTimer = undefined
    if (closed) return
    let token: string
    try {
      token = await auth.accessToken()
    } catch (error) {
      if (error instanceof SignedOutError) return signedOut(error)
      return retry(describeDrop(error))
    }
    if (closed) return
    const ws = new WebSocket(wsUrl(server), {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: 10_000
    })
    socket = ws
    let settled = false
    const down = (fn: () => void) => {
      if (settled) return
      settled = true
      if (silenceTimer !== undefined) clearTimeout(silenceTimer)
      fn()
    }
    ws.on("open", () => {
      attempt = 0
      watchSilence(ws)
      handlers.onOpen()
    })
    ws.on("ping", () => watchSilence(ws))
    ws.on("message", (data, isBinary) => {
      watchSilence(ws)
      if (isBinary) return
      let json: unknown
      try {
        json = JSON.parse(data.toString())
      } catch {
        return
      }
      // Unknown frames (a newer server) are skipped, not fatal.
      const event = decodeEvent(json)
      if (event._tag === "Some") handlers.onEvent(event.value)
    })
    ws.on("unexpected-response", (_request, response) => {
      const status = response.statusCode ?? 0
      response.resume()
      ws.terminate()
      down(() => (status === 401 ? refreshAndRetry("access token refused") : retry(`server answered ${status}`)))
    })
    ws.on("close", (code) => {
      down(() => {
        if (closed) return
        if (code === CloseCode.sessionRevoked) return signedOut(new SignedOutError())
        if (code === CloseCode.tokenExpired) return refreshAndRetry("access token expired")
        retry(code === CloseCode.goingAway ? "server restarting" : "connection lost")
      })
    })
    ws.on("error", (error) => {
      // Followed by "close"; when the handshake never completed, there may be no close.
      if (ws.readyState === WebSocket.CLOSED) down(() => retry(describeDrop(error)))
    })
  }

  void connect()

  return {
    send: (frame) => {
      if (socket === undefined || socket.readyState !== WebSocket.OPEN) return false
      socket.send(JSON.stringify(encodeEvent(frame)))
      return true
    },
    close: () => {
      closed = true
      stopTimers()
      socket?.close(1000)
      socket = undefined
    }
  }
}

/**
 * Why the connection is down, for the status line. The text can come from the server (the
 * message of a refused token refresh), so it is made safe here.
 */
export const describeDrop = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error)
  if (/ECONNREFUSED/.test(message)) return "server not reachable"
  return safeText(message.split("\n")[0] ?? "connection failed")
}
