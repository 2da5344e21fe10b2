/**
 * One connection's state: who it is, the rooms it listens to, what it remembers (may it post
 * here), and its outbound side. Handlers (`handlers/`) act on it; `connection.ts` creates it
 * with its scope and fibers. Maps are created on first use, so an idle socket holds only
 * this object.
 */
import { randomBytes } from "node:crypto"
import { CloseCode, type ReadMarker, type RoomId, type SessionId, type UserId } from "@parley/domain"
import type { Messages } from "@parley/storage"
import { type Clock, Effect, Exit, type Fiber, FiberSet, Metric, Scope } from "effect"
import type { Accounts, Caller } from "../auth/accounts.ts"
import type { RoomRouter } from "../chat/room-router.ts"
import type { ChatRooms } from "../chat/rooms.ts"
import type { ChatSearch } from "../chat/search.ts"
import type { RateLimits } from "../ratelimit/limits.ts"
import type { Broker, RoomChange } from "../realtime/broker.ts"
import type { Delivery, RoomHub, Subscriber } from "../realtime/hub.ts"
import type { Presence } from "../realtime/presence.ts"
import type { Typing } from "../realtime/typing.ts"
import { encodeReplyNow, eventFrame, type WireEvent } from "./codec.ts"
import type { Connections, OpenConnection } from "./connections.ts"
import type { EventError } from "./errors.ts"
import { holdUntilNextTurn, writeFrames, writeText } from "./frames.ts"
import { Inbound, type InboundCapacity, type InboundHost } from "./inbound.ts"
import type { Keepalive } from "./keepalive.ts"
import type { WsMetrics } from "./metrics.ts"
import type { SendDeadlines } from "./send-deadlines.ts"

/** `WebSocket.OPEN` */
const open = 1

/** Connection ids are this prefix, random per process, and a count. */
const processPrefix = `${randomBytes(12).toString("hex")}.`
let connections = 0

/** What an `ack` says it answers. */
export type AckPayload = Extract<WireEvent, { type: "ack" }>["payload"]

/** The `ack` of the event with this `id` (none: the client gave the event no id). */
export const ackEvent = (id: string | undefined, payload: AckPayload): WireEvent =>
  id === undefined ? { type: "ack", payload } : { type: "ack", id, payload }

/** The `error` answering the event with this `id`, naming its room when there is one. */
export const errorEvent = (id: string | undefined, e: EventError, roomId?: RoomId): WireEvent => {
  const payload =
    roomId === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, room_id: roomId }
  return id === undefined ? { type: "error", payload } : { type: "error", id, payload }
}

/** The part of a `ws` WebSocket a connection uses (tests pass a fake). */
export interface WsSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: string | Buffer): void
  send(data: string | Buffer, options: { binary: boolean }): void
  ping(): void
  close(code: number, reason: string): void
  terminate(): void
}

export interface ConnectionOptions {
  /** Bytes waiting to be written beyond which the client counts as too slow (close 1013). */
  readonly maxBufferedBytes: number
  /** A room's "may post here" answer is reused for this long (see `handlers/messages.ts`). */
  readonly postCheckTtlMs: number
  /** A send is answered within this long of its frame's arrival (`chat/send-deadline.ts`). */
  readonly sendDeadlineMs: number
  /** A peer that has not answered the previous ping by the next one is dropped. */
  readonly pingIntervalMs: number
  /** How often the session is re-checked (revoked, account disabled). */
  readonly reauthIntervalMs: number
  /** How long a closing peer gets to answer the close handshake before it is cut off. */
  readonly closeGraceMs: number
  /** How often the node's keepalive looks at its connections: how late a ping or an expiry may be. */
  readonly sweepMs: number
  readonly inbound: InboundCapacity
  /** Rooms one connection may listen to at once. */
  readonly maxSubscriptions: number
  /** Subscribes, resumes and unsubscribes per window, per connection. */
  readonly subscribeRate: number
  readonly subscribeWindowMs: number
}

/** What every connection of this node shares: services, options, and how to run fibers. */
export interface ConnectionEnv {
  readonly options: ConnectionOptions
  readonly accounts: Accounts["Service"]
  readonly rooms: ChatRooms["Service"]
  readonly search: ChatSearch["Service"]
  readonly router: RoomRouter["Service"]
  readonly hub: RoomHub["Service"]
  readonly broker: Broker["Service"]
  readonly presence: Presence["Service"]
  readonly typing: Typing["Service"]
  readonly limits: RateLimits["Service"]
  readonly messages: Messages["Service"]
  readonly metrics: WsMetrics
  /** The node's connection timers (pings, re-checks, expiry). */
  readonly keepalive: Keepalive
  /** The node's open acks, answered at their deadline if storage has not answered by then. */
  readonly deadlines: SendDeadlines
  /** Read when a frame arrives, outside any fiber. */
  readonly clock: Clock.Clock
  /** The node's registry of open sockets (revocations reach them through it). */
  readonly connections: Connections["Service"]
  /** Forks with the node's services; the caller adds the fiber to a connection's set. */
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  /** Spans are exported (`observability/spans.ts`): each inbound frame gets one. */
  readonly traced: boolean
  /** Handlers the state calls back into (set by `connection.ts`, which knows them). */
  readonly revalidate: (connection: ConnectionState) => Effect.Effect<void>
  readonly endSubscription: (connection: ConnectionState, roomId: RoomId, message: string) => Effect.Effect<void>
}

export interface ConnectionUser {
  readonly id: UserId
  readonly username: string
  /** A site admin (as of the upgrade): may delete any message. */
  readonly siteAdmin: boolean
}

/**
 * One room a connection listens to, and what the hub delivers that room's events to: a
 * delivery goes straight to its connection, with no lookup of the room per subscriber.
 */
export class Subscription implements Subscriber {
  readonly conn: ConnectionState
  /** The highest `seq` delivered; later duplicates are dropped. */
  lastSeq = 0
  /**
   * Live events wait here until the subscribe or resume that made it is answered (and a
   * resume's replay sent); `null` once delivery is live.
   */
  replay: Array<Delivery> | null = []
  /** The bytes waiting in `replay`: bounded like the socket's own buffer. */
  heldBytes = 0
  /** Cleared on unsubscribe: an event already on its way is not sent after it. */
  active = true

  constructor(conn: ConnectionState) {
    this.conn = conn
  }

  // Called by the hub, synchronously, once per room event.
  deliver(_roomId: RoomId, delivery: Delivery): void {
    if (!this.active || delivery.skipUser === this.conn.userId) return
    if (this.replay !== null) {
      // A long replay into a busy room must not hold an unbounded backlog: past the outbound
      // limit, the client is told to reconnect and resume, as a slow reader is.
      this.heldBytes += delivery.frame.length
      if (this.heldBytes > this.conn.env.options.maxBufferedBytes) this.conn.tooSlow(this.heldBytes)
      else this.replay.push(delivery)
      return
    }
    if (delivery.seq !== null) {
      if (delivery.seq <= this.lastSeq) return
      this.lastSeq = delivery.seq
    }
    this.conn.send(delivery.frame)
  }
  // A run of messages, in `seq` order: in one write when it is new to this subscriber as a whole.
  deliverRun(roomId: RoomId, messages: ReadonlyArray<Delivery>, frames: Buffer): void {
    if (!this.active) return
    const first = messages[0]!.seq ?? 0
    if (this.replay === null && first > this.lastSeq && this.conn.sendFrames(frames)) {
      this.lastSeq = messages[messages.length - 1]!.seq ?? this.lastSeq
      return
    }
    for (const delivery of messages) this.deliver(roomId, delivery)
  }
  membershipChanged(roomId: RoomId, userId: UserId): void {
    this.conn.membershipChanged(roomId, userId)
  }
  roomChanged(roomId: RoomId, change: RoomChange): void {
    this.conn.roomChanged(roomId, change)
  }
}

export const slowConsumersClosed = Metric.counter("parley_ws_slow_consumers_closed_total", {
  description: "WebSocket connections closed (1013) because they did not read fast enough"
})

export class ConnectionState implements OpenConnection, InboundHost {
  readonly env: ConnectionEnv
  readonly socket: WsSocket
  readonly userId: UserId
  readonly sessionId: SessionId
  /** What the connection needs of its user: not the whole account view. */
  readonly user: ConnectionUser
  readonly authenticatedAt: number
  /** When the access token expires (epoch ms): the connection closes then (4001). */
  readonly expiresAt: number
  /**
   * Its inbound worker and close timer, in a scope of their own; made with the first of them
   * (an idle socket has none: a scope and its finalizer cost about 0.7 KB per socket).
   */
  private fiberScope: Scope.Closeable | undefined = undefined
  private fiberSet: FiberSet.FiberSet<unknown, unknown> | undefined = undefined
  /** It has been closed (`onClosed`): nothing is forked for it any more. */
  closed = false
  /** When the next ping and the next session re-check are due (epoch ms; `keepalive.ts`). */
  nextPing = 0
  nextReauth = 0

  subscriptions: Map<RoomId, Subscription> | undefined = undefined
  /** Rooms whose "may post here" answer is still fresh, until when (epoch ms). */
  mayPostUntil: Map<RoomId, number> | undefined = undefined
  /** Counts the times answers were forgotten, so an answer read before one is not kept after it. */
  mayPostForgotten = 0
  /** The current window of subscribe/unsubscribe requests: when it began (epoch ms), how many so far. */
  subscribeWindowStart = 0
  subscribeCount = 0
  /** Sends handed to a room and not answered yet (`handlers/messages.ts`). */
  unanswered = 0
  /** Answered the last ping. */
  alive = true
  /** Nothing more is read or run for this socket (closing, revoked, given up). */
  stopped = false
  /** Nothing more is written to it. */
  closing = false
  private inboundQueue: Inbound | undefined = undefined
  private id: string | undefined = undefined

  constructor(env: ConnectionEnv, socket: WsSocket, caller: Caller, authenticatedAt: number, expiresAt: number) {
    this.env = env
    this.socket = socket
    this.userId = caller.userId
    this.sessionId = caller.sessionId
    this.user = { id: caller.userId, username: caller.username, siteAdmin: caller.role === "admin" }
    this.authenticatedAt = authenticatedAt
    this.expiresAt = expiresAt
  }

  /** Unique across nodes; made when first needed (presence). */
  get connId(): string {
    // This process's random prefix and a counter: no system call per connection (randomBytes was
    // 2% of a join), and flat and short (randomUUID's is a tree of ~14 pieces, ~450 B).
    this.id ??= `${processPrefix}${(++connections).toString(36)}`
    return this.id
  }
  get inbound(): Inbound {
    this.inboundQueue ??= new Inbound(this.env.options.inbound, this)
    return this.inboundQueue
  }

  /** The connection's fiber set: closing the connection interrupts every fiber in it. */
  get fibers(): FiberSet.FiberSet<unknown, unknown> {
    if (this.fiberSet === undefined) {
      this.fiberScope = Scope.makeUnsafe()
      this.fiberSet = Effect.runSync(Scope.provide(FiberSet.make(), this.fiberScope))
    }
    return this.fiberSet
  }
  /** Runs `effect` in this connection's fiber set: it ends when the connection does (or never starts, once closed). */
  fork(effect: Effect.Effect<unknown, unknown>): Fiber.Fiber<unknown, unknown> | undefined {
    if (this.closed) return undefined
    const fiber = this.env.runFork(effect)
    FiberSet.addUnsafe(this.fibers, fiber)
    return fiber
  }
  /** Interrupts the connection's fibers, and waits until they have ended. */
  closeFibers(): Effect.Effect<void> {
    return this.fiberScope === undefined ? Effect.void : Scope.close(this.fiberScope, Exit.void)
  }
  forkWorker(worker: Effect.Effect<void>): void {
    this.fork(worker)
  }
  controlLost(): void {
    if (this.stopped) return
    this.fork(
      Effect.logWarning("closing a connection (1013): its inbound queue is full, a re-check found no place").pipe(
        Effect.annotateLogs({ user_id: this.userId })
      )
    )
    this.closeWith(CloseCode.tryAgainLater, "too many events in flight: reconnect and resume")
  }

  /** The connection's outbound queue is the socket's own buffer, bounded here. */
  send(frame: string | Buffer): void {
    if (this.closing || this.socket.readyState !== open) return
    if (this.socket.bufferedAmount > this.env.options.maxBufferedBytes) {
      this.tooSlow(this.socket.bufferedAmount)
      return
    }
    writeText(this.socket, frame)
  }

  /**
   * `send` for frames built by `textFrames`: false, having written nothing, when the socket cannot
   * take them in one write now (the caller sends them one by one). Nothing to write is done.
   */
  sendFrames(frames: Buffer): boolean {
    if (this.closing || this.socket.readyState !== open) return true
    if (this.socket.bufferedAmount > this.env.options.maxBufferedBytes) {
      this.tooSlow(this.socket.bufferedAmount)
      return true
    }
    return writeFrames(this.socket, frames)
  }

  /** Closes a connection whose outbound backlog (`bytes`, in the socket or held) is over the limit. */
  tooSlow(bytes: number): void {
    if (this.closing) return
    this.fork(
      Effect.andThen(
        Metric.update(slowConsumersClosed, 1),
        Effect.logWarning("closing a slow consumer (1013): its outbound buffer is full").pipe(
          Effect.annotateLogs({ user_id: this.userId, buffered_bytes: bytes })
        )
      )
    )
    this.closeWith(CloseCode.tryAgainLater, "too slow: outbound queue full, reconnect and resume")
  }

  /**
   * Encodes one of this connection's own events (through `ServerEvent`) and sends it, now;
   * throws only on a bug (an event the protocol cannot encode).
   */
  replyNow(event: WireEvent): void {
    const frame = encodeReplyNow(event)
    // Held while more answers are coming (sends of this connection still unanswered, which a
    // group commit answers in the same turn, or frames waiting to be handled): they then leave
    // in one system call. The last or only one leaves at once, not after the turn's other work.
    if (this.unanswered > 0 || (this.inboundQueue?.size ?? 0) > 0) holdUntilNextTurn(this.socket)
    this.send(frame)
  }
  reply(event: WireEvent): Effect.Effect<void> {
    return Effect.sync(() => this.replyNow(event))
  }
  ack(id: string | undefined, payload: AckPayload): Effect.Effect<void> {
    return this.reply(ackEvent(id, payload))
  }
  error(id: string | undefined, e: EventError, roomId?: RoomId): Effect.Effect<void> {
    return this.reply(errorEvent(id, e, roomId))
  }

  /**
   * Starts the close handshake; a peer that does not answer it is cut off after the grace
   * period (by a fiber of this connection, which its closing interrupts).
   */
  closeWith(code: number, reason: string): void {
    if (this.closing) return
    this.stopped = true
    this.closing = true
    if (this.socket.readyState === open) this.socket.close(code, reason)
    const socket = this.socket
    this.fork(
      Effect.andThen(
        Effect.sleep(this.env.options.closeGraceMs),
        Effect.sync(() => socket.terminate())
      )
    )
  }

  /** Adds a subscription (counted on `/metrics`). */
  addSubscription(roomId: RoomId, subscription: Subscription): void {
    this.subscriptions ??= new Map()
    this.subscriptions.set(roomId, subscription)
    this.env.metrics.subscribed(1)
  }
  /** Removes a subscription and returns it; `undefined` when there was none. */
  removeSubscription(roomId: RoomId): Subscription | undefined {
    const subscription = this.subscriptions?.get(roomId)
    if (subscription === undefined) return undefined
    this.subscriptions!.delete(roomId)
    subscription.active = false
    this.env.metrics.subscribed(-1)
    return subscription
  }

  forgetMayPost(roomId: RoomId | null): void {
    this.mayPostForgotten++
    if (roomId === null) this.mayPostUntil = undefined
    else this.mayPostUntil?.delete(roomId)
  }

  // Removal takes effect now, not at the next periodic re-check.
  membershipChanged(roomId: RoomId, userId: UserId): void {
    if (userId !== this.userId) return
    this.forgetMayPost(roomId)
    this.inbound.offerControl(this.env.revalidate(this))
  }
  // Archiving takes effect at the next send (re-checked, refused); deletion ends the subscription.
  roomChanged(roomId: RoomId, change: RoomChange): void {
    this.forgetMayPost(roomId)
    if (change === "deleted") {
      this.inbound.offerControl(this.env.endSubscription(this, roomId, "this room was deleted; unsubscribed"))
    }
  }

  // OpenConnection: called by the registry on news from any node.
  revoke(): void {
    if (this.stopped) return
    this.closeWith(CloseCode.sessionRevoked, "session revoked or account disabled")
  }
  postingChanged(roomId: RoomId): void {
    this.forgetMayPost(roomId)
  }
  // The socket that moved the marker has its ack; every other one of the user's hears of it.
  readMarkerMoved(marker: ReadMarker, origin: string | null): void {
    if (this.stopped || (origin !== null && origin === this.id)) return
    this.send(eventFrame({ type: "read.marker", payload: marker }))
  }
}
