/**
 * This node's fan-out: which local connections listen to which room, and the one broker
 * subscription per room that feeds them. Each room's messages reach local subscribers in
 * `seq` order without holes: when the broker skips a `seq` (a lost Redis message, a
 * reconnect), the hub reads the missing messages from storage before delivering more.
 * A frame is encoded once per event (through the `ServerEvent` schema) and the same bytes
 * go to every subscriber.
 */
import type { MessageId, MessageView, RoomId, UserId } from "@parley/domain"
import { Messages, type StorageError } from "@parley/storage"
import {
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  FiberSet,
  Layer,
  Option,
  Schedule,
  Scope,
  Stream,
  Tracer
} from "effect"
import { historyAfter } from "../history/reader.ts"
import { end, startRemoteChild, tracingOn } from "../observability/spans.ts"
import { toMessageView } from "../views/chat.ts"
import { eventFrame, wireFrame } from "../ws/codec.ts"
import { textFrames } from "../ws/frames.ts"
import { deliveryLatency } from "../ws/metrics.ts"
import { Broker, type BrokerError, type RoomChange, type RoomEvent } from "./broker.ts"

/** One room event, ready to write to a socket. */
export interface Delivery {
  /** Set for messages: the connection drops anything at or below what it already has. */
  readonly seq: number | null
  /** Not sent to this user (their own typing indicator). */
  readonly skipUser: UserId | null
  /** The encoded frame, shared by every subscriber: written as it is, never copied. */
  readonly frame: Buffer
}

export interface Subscriber {
  readonly deliver: (roomId: RoomId, delivery: Delivery) => void
  /**
   * Several messages in a row, in `seq` order, with their WebSocket frames back to back in
   * `frames` (`textFrames`), for one write to each socket. A subscriber that cannot take the run
   * whole (it has some of it, or is replaying) delivers them one by one; one without this
   * method gets them one by one from the hub.
   */
  readonly deliverRun?: (roomId: RoomId, messages: ReadonlyArray<Delivery>, frames: Buffer) => void
  /** `userId`'s membership of the room changed (left, removed). */
  readonly membershipChanged: (roomId: RoomId, userId: UserId) => void
  /** The room was archived or deleted. */
  readonly roomChanged: (roomId: RoomId, change: RoomChange) => void
}

/** A message accepted in `seq` order and not yet handed to the sockets (`RoomHubOptions.broadcastWindow`). */
interface HeldMessage {
  readonly delivery: Delivery
  readonly createdAt: number
}

/**
 * The share of the window after a broadcast's end in which a message is held. With 10 ms
 * windows, a room is held once its messages come less than 7 ms apart plus what one broadcast
 * takes: above about 140 a second with a few subscribers, above about 70 with 1,000 (whose
 * writes take about 7 ms).
 */
const heldWithin = 0.7
/**
 * And only while its messages come less than this many windows apart, on average: a room
 * whose messages come further apart (15 ms: below about 65 a second) pairs none of them in a
 * window, so it is never held, even right after a broadcast that took long, or when a stall
 * let two of its messages in together.
 */
const busyWithin = 1.5
/** The weight of the newest gap between a room's messages in their running average. */
const gapWeight = 0.25

export interface RoomHubOptions {
  /**
   * A busy room's messages go out together, once per window: a message that comes within
   * `heldWithin` of a window after the room's last broadcast ended waits until a window after
   * that end, with any that follow it. A busy room then writes each socket once per window
   * instead of once per message (the system call per socket is what a delivery costs most:
   * BENCHMARKS.md, "Busy rooms write each socket once per window"). A room whose messages come
   * `busyWithin` windows apart or more is never held: holding would add latency and pair
   * nothing. Zero sends every message at once.
   */
  readonly broadcastWindow: Duration.Duration
}

interface RoomState {
  readonly subscribers: Set<Subscriber>
  /** Messages waiting for the window's end, in `seq` order. */
  held: Array<HeldMessage>
  /** When the room's last broadcast ended: its frames handed to every socket (epoch ms). */
  lastBroadcastEndedAt: number
  /** When the room's last messages reached the hub (epoch ms). */
  lastMessagesAt: number
  /** The running average of the gaps between them (`gapWeight`), ms; none before the second. */
  averageGapMs: number
  /** A broadcast of `held` is scheduled for the window's end. */
  broadcastScheduled: boolean
  readonly scope: Scope.Closeable
  readonly live: Deferred.Deferred<void, BrokerError | StorageError>
  lastSeq: number
  lastMsgId: MessageId | null
  /** Events that arrived while the baseline or a backfill was being read. */
  readonly pending: Array<RoomEvent>
  catchingUp: boolean
}

export class RoomHub extends Context.Service<
  RoomHub,
  {
    /** Adds a subscriber; resolves once the room's broker subscription is live. */
    readonly join: (roomId: RoomId, subscriber: Subscriber) => Effect.Effect<void, BrokerError | StorageError>
    readonly leave: (roomId: RoomId, subscriber: Subscriber) => Effect.Effect<void>
  }
>()("parley/server/realtime/RoomHub") {
  static readonly layer = ({ broadcastWindow }: RoomHubOptions) =>
    Layer.effect(
      RoomHub,
      Effect.gen(function* () {
        const windowMs = Duration.toMillis(broadcastWindow)
        const broker = yield* Broker
        const messages = yield* Messages
        const runFork = yield* FiberSet.makeRuntime()
        const clock = yield* Clock.Clock
        const tracer = yield* Effect.service(Tracer.Tracer)
        const traced = yield* tracingOn
        const context = yield* Effect.context<never>()
        const rooms = new Map<RoomId, RoomState>()

        const broadcast = (state: RoomState, roomId: RoomId, delivery: Delivery) => {
          for (const subscriber of state.subscribers) subscriber.deliver(roomId, delivery)
        }

        /** An event that does not match the protocol is dropped, loudly, rather than sent on. */
        const malformed = (roomId: RoomId, kind: string) => {
          runFork(
            Effect.logError("room event does not match the protocol; dropped").pipe(
              Effect.annotateLogs({ room_id: roomId, kind })
            )
          )
        }

        /** Hands what the room holds to its sockets: a run of several in one write to each. */
        const broadcastHeld = (state: RoomState, roomId: RoomId) => {
          const held = state.held
          if (held.length === 0) return
          state.held = []
          if (held.length === 1) {
            broadcast(state, roomId, held[0]!.delivery)
          } else {
            const run = held.map((h) => h.delivery)
            const frames = textFrames(run.map((d) => d.frame))
            for (const subscriber of state.subscribers) {
              if (subscriber.deliverRun !== undefined) subscriber.deliverRun(roomId, run, frames)
              else for (const delivery of run) subscriber.deliver(roomId, delivery)
            }
          }
          // Counted from the broadcast's end: a room whose broadcasts take long (a write to each
          // of many sockets) is busier than its message rate says, and holds sooner.
          const now = clock.currentTimeMillisUnsafe()
          state.lastBroadcastEndedAt = now
          // Once per message: from its creation to its frame handed to every local socket.
          for (const h of held) deliveryLatency.updateUnsafe(Math.max(0, now - h.createdAt) / 1000, context)
        }

        /** Counts the gap since the room's last messages into its running average (`busyWithin`). */
        const noteMessagesArrived = (state: RoomState) => {
          const now = clock.currentTimeMillisUnsafe()
          const gap = now - state.lastMessagesAt
          // The first gap is the average (a weighted step from infinity would give NaN).
          state.averageGapMs = Number.isFinite(state.averageGapMs)
            ? state.averageGapMs + gapWeight * (gap - state.averageGapMs)
            : gap
          state.lastMessagesAt = now
        }

        /**
         * Broadcasts what is held now, or at the window's end if the room is busy: its last
         * broadcast ended within `heldWithin` of a window, and its messages come less than
         * `busyWithin` windows apart.
         */
        const release = (state: RoomState, roomId: RoomId) => {
          if (state.held.length === 0 || state.broadcastScheduled) return
          const now = clock.currentTimeMillisUnsafe()
          const sinceEnd = now - state.lastBroadcastEndedAt
          if (sinceEnd >= windowMs * heldWithin || state.averageGapMs >= windowMs * busyWithin)
            return broadcastHeld(state, roomId)
          const wait = windowMs - sinceEnd
          state.broadcastScheduled = true
          runFork(
            Effect.andThen(
              Effect.sleep(Duration.millis(wait)),
              Effect.sync(() => {
                state.broadcastScheduled = false
                broadcastHeld(state, roomId)
              })
            )
          )
        }

        /** Takes the next message in `seq` order; it goes out with `release`. */
        const deliverMessage = (state: RoomState, seq: number, msgId: MessageId, createdAt: number, frame: Buffer) => {
          state.lastSeq = seq
          state.lastMsgId = msgId
          state.held.push({ delivery: { seq, skipUser: null, frame }, createdAt })
        }

        /** A message as the broker carries it (already in wire shape). */
        const deliverWire = (state: RoomState, roomId: RoomId, m: typeof MessageView.Encoded) => {
          const frame = wireFrame({ type: "chat.message", payload: m })
          if (frame === undefined) return malformed(roomId, "messages")
          deliverMessage(state, m.seq, m.msg_id as MessageId, Date.parse(m.created_at), frame)
        }

        /**
         * Reads from storage everything after the last delivered message, up to `upTo`. What
         * storage does not have (a write that failed, a page it cannot give) is skipped, so the
         * room never stalls: delivery goes on from `upTo`, and clients can `channel.resume`.
         */
        const backfill = (state: RoomState, roomId: RoomId, upTo: number) =>
          Effect.suspend(() =>
            historyAfter(messages, roomId, state.lastMsgId, { upTo }).pipe(
              Stream.runForEach((record) =>
                Effect.sync(() => {
                  if (record.seq <= state.lastSeq || record.seq > upTo) return
                  const frame = eventFrame({ type: "chat.message", payload: toMessageView(record) })
                  deliverMessage(state, record.seq, record.id, record.createdAt, frame)
                  release(state, roomId)
                })
              )
            )
          ).pipe(
            Effect.retry({ schedule: Schedule.exponential("100 millis"), times: 5 }),
            Effect.catchCause((cause) =>
              Effect.logError("backfill failed; delivering on with a gap", cause).pipe(
                Effect.annotateLogs({ room_id: roomId })
              )
            ),
            Effect.ensuring(
              Effect.sync(() => {
                state.lastSeq = Math.max(state.lastSeq, upTo)
                state.catchingUp = false
                drain(state, roomId)
              })
            )
          )

        /** Delivers whatever storage has beyond the last message delivered. */
        const catchUp = (state: RoomState, roomId: RoomId) =>
          Effect.gen(function* () {
            const head = yield* messages.latest(roomId)
            if (Option.isNone(head) || head.value.seq <= state.lastSeq || state.catchingUp) return
            state.catchingUp = true
            yield* backfill(state, roomId, head.value.seq)
          }).pipe(Effect.catchCause((cause) => Effect.logWarning("catch-up after reconnect failed", cause)))

        /**
         * Hands a broadcast's messages to the room's sockets, in `seq` order; at a gap, the rest
         * waits for a backfill. Returns how many messages went out now.
         */
        const deliverMessages = (state: RoomState, roomId: RoomId, event: RoomEvent & { kind: "messages" }): number => {
          // A batch (many sends stored by one commit, which is when the server is busy) leaves
          // every socket in one write instead of one per message, held or not.
          let delivered = 0
          for (let i = 0; i < event.messages.length; i++) {
            const m = event.messages[i]!
            if (m.seq <= state.lastSeq) continue
            if (m.seq > state.lastSeq + 1) {
              state.catchingUp = true
              state.pending.unshift({ kind: "messages", messages: event.messages.slice(i), trace: event.trace })
              runFork(backfill(state, roomId, m.seq - 1))
              release(state, roomId)
              return delivered
            }
            deliverWire(state, roomId, m)
            delivered++
          }
          release(state, roomId)
          return delivered
        }

        const handle = (state: RoomState, roomId: RoomId, event: RoomEvent): void => {
          if (state.catchingUp) {
            state.pending.push(event)
            return
          }
          // Any other event goes out after the messages before it (a removal after what the
          // removed member could still read).
          if (event.kind !== "messages") broadcastHeld(state, roomId)
          switch (event.kind) {
            case "messages": {
              noteMessagesArrived(state)
              if (!traced || event.trace === undefined) {
                deliverMessages(state, roomId, event)
                return
              }
              // One span per broadcast, never one per socket: a child of the publish, on any node.
              const span = startRemoteChild(tracer, clock, "hub.deliver", event.trace)
              const delivered = deliverMessages(state, roomId, event)
              span.attribute("room_id", roomId)
              span.attribute("hub.messages", delivered)
              span.attribute("hub.subscribers", state.subscribers.size)
              span.attribute("hub.deliveries", delivered * state.subscribers.size)
              end(span, clock)
              return
            }
            case "typing.changes": {
              const frame = wireFrame({
                type: "typing",
                payload: { room_id: roomId, started: event.started, stopped: event.stopped }
              })
              // One typist: not echoed to them. Several: one frame for all, and clients skip themselves.
              const only =
                event.started.length + event.stopped.length === 1 ? [...event.started, ...event.stopped][0]! : null
              if (frame === undefined) malformed(roomId, event.kind)
              else broadcast(state, roomId, { seq: null, skipUser: only?.user_id ?? null, frame })
              return
            }
            case "resync":
              runFork(catchUp(state, roomId))
              return
            case "membership":
              for (const subscriber of state.subscribers) subscriber.membershipChanged(roomId, event.user_id)
              return
            case "room":
              for (const subscriber of [...state.subscribers]) subscriber.roomChanged(roomId, event.change)
              return
            case "presence.diff":
            case "presence.count": {
              const frame = wireFrame(
                event.kind === "presence.diff"
                  ? {
                      type: "presence.diff",
                      payload: { room_id: roomId, joined: event.joined, left: event.left, count: event.count }
                    }
                  : { type: "presence.count", payload: { room_id: roomId, count: event.count } }
              )
              if (frame === undefined) malformed(roomId, event.kind)
              else broadcast(state, roomId, { seq: null, skipUser: null, frame })
              return
            }
          }
        }

        const drain = (state: RoomState, roomId: RoomId) => {
          while (!state.catchingUp && state.pending.length > 0) handle(state, roomId, state.pending.shift()!)
        }

        /** Subscribes to the broker first, then reads the head: nothing between the two is missed. */
        const open = (roomId: RoomId, state: RoomState) =>
          Effect.gen(function* () {
            yield* broker.subscribe(roomId, (event) => handle(state, roomId, event)).pipe(Scope.provide(state.scope))
            const head = yield* messages.latest(roomId)
            if (Option.isSome(head)) {
              state.lastSeq = head.value.seq
              state.lastMsgId = head.value.id
            }
            state.catchingUp = false
            drain(state, roomId)
          })

        const close = (roomId: RoomId, state: RoomState) => {
          if (rooms.get(roomId) === state) rooms.delete(roomId)
          return Scope.close(state.scope, Exit.void)
        }

        return RoomHub.of({
          join: (roomId, subscriber) =>
            Effect.gen(function* () {
              let state = rooms.get(roomId)
              if (state === undefined) {
                const created: RoomState = {
                  subscribers: new Set(),
                  held: [],
                  lastMessagesAt: Number.NEGATIVE_INFINITY,
                  averageGapMs: Number.POSITIVE_INFINITY,
                  lastBroadcastEndedAt: Number.NEGATIVE_INFINITY,
                  broadcastScheduled: false,
                  scope: Scope.makeUnsafe(),
                  live: Deferred.makeUnsafe(),
                  lastSeq: 0,
                  lastMsgId: null,
                  pending: [],
                  catchingUp: true
                }
                rooms.set(roomId, created)
                runFork(
                  open(roomId, created).pipe(
                    Effect.onExit((exit) =>
                      Effect.andThen(
                        Exit.isFailure(exit) ? close(roomId, created) : Effect.void,
                        Deferred.done(created.live, exit)
                      )
                    )
                  )
                )
                state = created
              }
              state.subscribers.add(subscriber)
              const joined = state
              yield* Deferred.await(joined.live).pipe(
                Effect.tapError(() => Effect.sync(() => joined.subscribers.delete(subscriber)))
              )
            }),
          leave: (roomId, subscriber) =>
            Effect.suspend(() => {
              const state = rooms.get(roomId)
              if (state === undefined || !state.subscribers.delete(subscriber) || state.subscribers.size > 0) {
                return Effect.void
              }
              return close(roomId, state)
            })
        })
      })
    )
}
