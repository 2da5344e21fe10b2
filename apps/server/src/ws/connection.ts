/**
 * Opens one connection on an accepted socket: its scope, its fiber set (inbound worker, a
 * close's grace timer), its registration with the node's `Connections`, and the
 * `ws` listeners. Closing the socket closes the scope: the fibers are interrupted, then the
 * rooms are left. An ack is no fiber: the room actor's reply writes it, and writes nothing
 * once the connection is closing.
 *
 * The listeners are shared functions that find their connection on the socket, so a socket
 * costs no closures of its own.
 */
import type { RoomId } from "@parley/domain"
import { Messages } from "@parley/storage"
import { Clock, Effect, Exit, FiberSet } from "effect"
import type WebSocket from "ws"
import { Accounts, type Caller } from "../auth/accounts.ts"
import { RoomRouter } from "../chat/room-router.ts"
import { ChatRooms, type RoomAccessResult } from "../chat/rooms.ts"
import { ChatSearch } from "../chat/search.ts"
import { tracingOn } from "../observability/spans.ts"
import { RateLimits } from "../ratelimit/limits.ts"
import { Broker } from "../realtime/broker.ts"
import { RoomHub } from "../realtime/hub.ts"
import { Presence } from "../realtime/presence.ts"
import { Typing } from "../realtime/typing.ts"
import { Connections } from "./connections.ts"
import { overflow, queuedFrame, subscribeFromUrl } from "./handlers/dispatch.ts"
import { endSubscription, leaveAll, revalidate } from "./handlers/subscriptions.ts"
import { Keepalive } from "./keepalive.ts"
import { makeWsMetrics } from "./metrics.ts"
import { SendDeadlines } from "./send-deadlines.ts"
import { type ConnectionEnv, type ConnectionOptions, ConnectionState, type WsSocket } from "./state.ts"

export interface Accepted {
  readonly caller: Caller
  /** When the storage read that let it in began (epoch ms). */
  readonly authenticatedAt: number
  /** When the access token expires (epoch ms). */
  readonly expiresAt: number
  /** The `room_id` of the URL, subscribed first. */
  readonly roomId: RoomId | null
  /** Whether the user may read it, read with the session at the upgrade (when known). */
  readonly roomAccess?: RoomAccessResult | null
}

/**
 * Builds the connection, starts its timers and makes the URL's subscribe. The socket must not
 * have delivered a frame yet (a paused `ws` socket, or a fake one); the caller then wires its
 * events to `onFrame`, `onPong` and `onClosed`.
 */
export const openConnection = (
  env: ConnectionEnv,
  socket: WsSocket,
  accepted: Accepted
): Effect.Effect<ConnectionState> =>
  Effect.suspend(() => {
    const conn = new ConnectionState(env, socket, accepted.caller, accepted.authenticatedAt, accepted.expiresAt)
    // Stopped halfway (the server shutting down during the URL's subscribe), the socket never
    // gets its listeners, so nothing else would close the connection: it is closed here.
    return start(conn, accepted.roomId, accepted.roomAccess ?? null).pipe(
      Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : onClosed(conn))),
      Effect.as(conn)
    )
  })

const start = (conn: ConnectionState, roomId: RoomId | null, roomAccess: RoomAccessResult | null) =>
  // Revocations from any node close it at once; the periodic re-check is the backstop.
  Effect.andThen(
    conn.env.connections.add(conn),
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      conn.env.metrics.connected(1)
      conn.env.keepalive.add(conn, now)
      // The URL's subscribe runs here, in the upgrade's own fiber, before the socket reads a
      // frame: no client event can overtake it, and no fiber is forked for it.
      return roomId === null ? Effect.void : subscribeFromUrl(conn, roomId, roomAccess)
    })
  )

/** A client frame (`null`: binary) arrived. */
export const onFrame = (conn: ConnectionState, text: string | null) => {
  if (conn.stopped) return
  // A peer that sends is alive, whether or not its pong made it through yet: frames are handled
  // as they are read, so a pong queued behind a long burst reaches us late.
  conn.alive = true
  const arrivedAt = conn.env.clock.currentTimeMillisUnsafe()
  // Refused before anything is registered for it: one answer per frame.
  if (conn.inbound.full) overflow(conn, text)
  else conn.inbound.offerFrame(queuedFrame(conn, text, arrivedAt, conn.inbound.busy))
}

/**
 * The socket is closed (either side): its fibers are interrupted first (a subscribe still
 * running during the leave could join presence after it, for good), then it leaves its rooms
 * and the node's registries. Once only.
 */
export const onClosed = (conn: ConnectionState): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (conn.closed) return Effect.void
    conn.stopped = true
    conn.closing = true
    conn.closed = true
    return Effect.andThen(
      conn.closeFibers(),
      Effect.andThen(
        Effect.sync(() => {
          conn.env.keepalive.remove(conn)
          conn.env.connections.remove(conn)
          conn.env.metrics.connected(-1)
        }),
        leaveAll(conn)
      )
    )
  })

const connectionKey = Symbol("parley/ws/connection")
type Tagged = WebSocket & { [connectionKey]?: ConnectionState | undefined }

function onMessage(this: Tagged, data: WebSocket.RawData, isBinary: boolean) {
  const conn = this[connectionKey]
  if (conn !== undefined) onFrame(conn, isBinary ? null : data.toString())
}
function onPong(this: Tagged) {
  const conn = this[connectionKey]
  if (conn !== undefined) conn.alive = true
}
function onClose(this: Tagged) {
  const conn = this[connectionKey]
  if (conn === undefined) return
  this[connectionKey] = undefined
  conn.env.runFork(onClosed(conn))
}
function ignoreError() {}

/** Wires a real `ws` socket to its connection, and lets it read. */
export const attach = (ws: WebSocket, conn: ConnectionState) => {
  ;(ws as Tagged)[connectionKey] = conn
  ws.on("message", onMessage)
  ws.on("pong", onPong)
  ws.on("close", onClose)
  ws.on("error", ignoreError)
  // Closed before the listeners were in place (a reset while paused): clean up now.
  if (ws.readyState === ws.CLOSED) return onClose.call(ws as Tagged)
  ws.resume()
}

/** How often open acks are checked against their deadlines: how late past it a late answer may come. */
const deadlineTickMs = 100

/** The node's share of every connection: services, options, a runtime; closed with the scope. */
export const makeConnectionEnv = (options: ConnectionOptions) =>
  Effect.gen(function* () {
    const runFork = yield* FiberSet.makeRuntime<never, unknown, unknown>()
    const keepalive = new Keepalive()
    yield* Effect.forkScoped(keepalive.run(options.sweepMs, runFork))
    const deadlines = new SendDeadlines()
    yield* Effect.forkScoped(deadlines.run(deadlineTickMs))
    const env: ConnectionEnv = {
      options,
      accounts: yield* Accounts,
      rooms: yield* ChatRooms,
      search: yield* ChatSearch,
      router: yield* RoomRouter,
      hub: yield* RoomHub,
      broker: yield* Broker,
      presence: yield* Presence,
      typing: yield* Typing,
      limits: yield* RateLimits,
      messages: yield* Messages,
      metrics: yield* makeWsMetrics,
      traced: yield* tracingOn,
      runFork: (effect) => runFork(effect),
      keepalive,
      deadlines,
      clock: yield* Clock.Clock,
      connections: yield* Connections,
      revalidate,
      endSubscription
    }
    return env
  })
