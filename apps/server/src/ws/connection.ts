/**
 * One WebSocket connection: decodes client events in arrival order, applies the room rules,
 * and owns the connection's outbound side (bounded, see `send`). Transport concerns (the
 * upgrade, pings, timers) live in `endpoint.ts`.
 */
import {
  ClientEnvelope,
  ClientEvent,
  CloseCode,
  clientEventTypes,
  type Forbidden,
  type MessageId,
  type NotFound,
  type Overloaded,
  type RateLimited,
  type RoomId,
  ServiceUnavailable,
  type UserView,
  type WsErrorCode
} from "@parley/domain"
import { Messages } from "@parley/storage"
import { Cause, Clock, Data, Effect, Metric, Option, Schema, SchemaIssue } from "effect"
import type WebSocket from "ws"
import { RoomRouter } from "../chat/room-router.ts"
import { ChatRooms, toMessageView } from "../chat/rooms.ts"
import { RateLimits } from "../ratelimit/limits.ts"
import { Broker } from "../realtime/broker.ts"
import { type Delivery, messageFrame, RoomHub, type Subscriber } from "../realtime/hub.ts"
import { Presence } from "../realtime/presence.ts"
import { unavailable } from "../storage-errors.ts"

export interface ConnectionOptions {
  /** Bytes waiting to be written beyond which the client counts as too slow (close 1013). */
  readonly maxBufferedBytes: number
  /** `typing.start` is forwarded at most this often per room. */
  readonly typingIntervalMs: number
  /** A subscribed room's "may post here" answer is reused for this long (see `mayPost`). */
  readonly postCheckTtlMs: number
}

interface Subscription {
  /** The highest `seq` delivered; later duplicates are dropped. */
  lastSeq: number
  /** While `channel.resume` replays history, live events wait here. */
  replay: Array<Delivery> | null
}

export const slowConsumersClosed = Metric.counter("parley_ws_slow_consumers_closed_total", {
  description: "WebSocket connections closed (1013) because they did not read fast enough"
})

const decodeEnvelope = Schema.decodeUnknownEffect(ClientEnvelope)
const decodeEvent = Schema.decodeUnknownEffect(ClientEvent)
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()
const replayPage = 200

class EventError extends Data.TaggedError("EventError")<{ readonly code: WsErrorCode; readonly message: string }> {}

type RoomFailure = Forbidden | NotFound | ServiceUnavailable | Overloaded | RateLimited

const toEventError = (error: RoomFailure | EventError): EventError => {
  if (error instanceof EventError) return error
  switch (error._tag) {
    case "Forbidden":
      // Only refused in a room the caller can see, so its reason reveals nothing.
      return new EventError({ code: "forbidden", message: error.error.message })
    case "NotFound":
      // Same answer for a missing room and a private one, so neither is revealed.
      return new EventError({ code: "forbidden", message: "no such room, or you may not do that in it" })
    case "RateLimited":
      return new EventError({
        code: "rate_limited",
        message: `too many messages; retry in ${error.retryAfterSeconds} s`
      })
    case "Overloaded":
      return new EventError({ code: "overloaded", message: error.error.message })
    case "ServiceUnavailable":
      return new EventError({
        code: "service_unavailable",
        message:
          error.retryAfterSeconds === undefined
            ? error.error.message
            : `${error.error.message}; retry in ${error.retryAfterSeconds} s`
      })
  }
}

export const makeConnection = (
  socket: WebSocket,
  user: UserView,
  connId: string,
  options: ConnectionOptions,
  onSlowConsumer: () => void,
  /** Runs `effect` in order with the connection's events (after those already received), or closes the connection. */
  enqueue: (effect: Effect.Effect<void>) => void
) =>
  Effect.gen(function* () {
    const rooms = yield* ChatRooms
    const router = yield* RoomRouter
    const hub = yield* RoomHub
    const broker = yield* Broker
    const presence = yield* Presence
    const limits = yield* RateLimits
    const messages = yield* Messages
    const subscriptions = new Map<RoomId, Subscription>()
    const typingSentAt = new Map<RoomId, number>()
    /** Rooms whose "may post here" answer is still fresh, until when (epoch ms). */
    const mayPostUntil = new Map<RoomId, number>()
    /** Counts the times answers were forgotten, so an answer read before one is not kept after it. */
    let mayPostForgotten = 0
    const forgetMayPost = (roomId: RoomId | null) => {
      mayPostForgotten++
      if (roomId === null) mayPostUntil.clear()
      else mayPostUntil.delete(roomId)
    }
    let closing = false

    /** The connection's outbound queue is the socket's own buffer, bounded here. */
    const send = (frame: string) => {
      if (closing || socket.readyState !== socket.OPEN) return
      if (socket.bufferedAmount > options.maxBufferedBytes) {
        closing = true
        onSlowConsumer()
        return
      }
      socket.send(frame)
    }
    const sendEvent = (event: object) => send(JSON.stringify(event))
    const ack = (id: string | undefined, payload: object) =>
      sendEvent(id === undefined ? { type: "ack", payload } : { type: "ack", id, payload })
    const error = (id: string | undefined, e: EventError) =>
      sendEvent({ type: "error", ...(id === undefined ? {} : { id }), payload: { code: e.code, message: e.message } })

    const subscriber: Subscriber = {
      deliver: (roomId, delivery) => {
        const subscription = subscriptions.get(roomId)
        if (subscription === undefined || delivery.skipUser === user.id) return
        if (subscription.replay !== null) {
          subscription.replay.push(delivery)
          return
        }
        if (delivery.seq !== null) {
          if (delivery.seq <= subscription.lastSeq) return
          subscription.lastSeq = delivery.seq
        }
        send(delivery.frame)
      },
      // Removal takes effect now, not at the next periodic re-check.
      membershipChanged: (roomId, userId) => {
        if (userId !== user.id) return
        forgetMayPost(roomId)
        enqueue(revalidate)
      },
      // Archiving takes effect at the next send (re-checked, refused); deletion ends the subscription.
      roomChanged: (roomId, change) => {
        forgetMayPost(roomId)
        if (change === "deleted") enqueue(endSubscription(roomId, "this room was deleted; unsubscribed"))
      }
    }

    const announcePresence = (roomId: RoomId) =>
      presence.online(roomId).pipe(
        Effect.flatMap((online) => broker.publish(roomId, { kind: "presence", online })),
        Effect.catchCause((cause) => Effect.logWarning("presence update failed", cause))
      )

    const subscribe = Effect.fnUntraced(function* (roomId: RoomId, replay: boolean) {
      yield* rooms.access(user.id, roomId)
      const existing = subscriptions.get(roomId)
      if (existing !== undefined) {
        if (replay && existing.replay === null) existing.replay = []
        return existing
      }
      const subscription: Subscription = { lastSeq: 0, replay: replay ? [] : null }
      subscriptions.set(roomId, subscription)
      yield* hub.join(roomId, subscriber).pipe(
        Effect.tapError((cause) =>
          Effect.andThen(
            Effect.sync(() => subscriptions.delete(roomId)),
            Effect.logError("room subscription failed", cause)
          )
        ),
        Effect.mapError(() => new ServiceUnavailable())
      )
      yield* presence
        .join(roomId, { connId, userId: user.id, username: user.username })
        .pipe(Effect.catchCause((cause) => Effect.logWarning("presence join failed", cause)))
      yield* announcePresence(roomId)
      return subscription
    })

    const publishTyping = (roomId: RoomId, typing: boolean) =>
      broker
        .publish(roomId, { kind: "typing", user_id: user.id, username: user.username, typing })
        .pipe(Effect.catchCause((cause) => Effect.logWarning("typing broadcast failed", cause)))

    // Uninterruptible: a socket closing halfway must not leave the user in presence for good.
    const unsubscribe = (roomId: RoomId) =>
      Effect.uninterruptible(
        Effect.gen(function* () {
          if (!subscriptions.delete(roomId)) return
          yield* hub.leave(roomId, subscriber)
          // Whoever leaves a room (or disconnects) while typing stops typing in it.
          if (typingSentAt.delete(roomId)) yield* publishTyping(roomId, false)
          yield* presence.leave(roomId, connId).pipe(Effect.catchCause(() => Effect.void))
          yield* announcePresence(roomId)
        })
      )

    /** Ends a subscription the server no longer allows, telling the client which room and why. */
    const endSubscription = (roomId: RoomId, message: string) =>
      Effect.gen(function* () {
        if (!subscriptions.has(roomId)) return
        yield* unsubscribe(roomId)
        sendEvent({ type: "error", payload: { code: "forbidden", message, room_id: roomId } })
      })

    /**
     * Re-checks every subscription: a member removed from a private room, or a room that is
     * gone, stops receiving it. Runs in the connection's inbound order, like a client event.
     */
    const revalidate: Effect.Effect<void> = Effect.gen(function* () {
      forgetMayPost(null)
      for (const roomId of [...subscriptions.keys()]) {
        const allowed = yield* rooms.access(user.id, roomId).pipe(
          Effect.as(true),
          Effect.catchTag("NotFound", () => Effect.succeed(false)),
          // Storage trouble is no reason to cut anyone off; the next round decides.
          Effect.catch(() => Effect.succeed(true))
        )
        if (allowed) continue
        yield* endSubscription(roomId, "you may no longer read this room; unsubscribed")
      }
    }).pipe(Effect.catchCause((cause) => Effect.logWarning("subscription check failed", cause)))

    /** Replays stored messages after `after`, then releases the live events held meanwhile. */
    const resume = Effect.fnUntraced(function* (roomId: RoomId, after: MessageId) {
      const subscription = yield* subscribe(roomId, true)
      /** Live delivery resumes whatever happens to the replay: a failed read must not hold it forever. */
      const release = Effect.sync(() => {
        const held = subscription.replay ?? []
        subscription.replay = null
        for (const delivery of held) subscriber.deliver(roomId, delivery)
      })
      return yield* Effect.gen(function* () {
        let cursor = after
        let replayed = 0
        for (;;) {
          const page = yield* unavailable(messages.listAfter(roomId, { after: cursor, limit: replayPage }))
          for (const record of page) {
            if (record.seq <= subscription.lastSeq) continue
            subscription.lastSeq = record.seq
            send(messageFrame(toMessageView(record)))
            replayed++
          }
          if (page.length < replayPage) break
          cursor = page[page.length - 1]!.id
        }
        return replayed
      }).pipe(Effect.ensuring(release))
    })

    /**
     * Refuses a send to a room that is archived, deleted, or that the user may not post in.
     * A yes is reused for a while, subscribed or not (a storage read per message would halve
     * a sender's throughput): archiving, deleting or removing someone is announced to every
     * socket on every node (`postingChanged`, through `Revocations`), which forgets the
     * answer, so the next send is checked again. What no check can stop: a send the room
     * actor already accepted when the change lands is still stored (and acknowledged).
     */
    const mayPost = Effect.fnUntraced(function* (roomId: RoomId) {
      const now = yield* Clock.currentTimeMillis
      if ((mayPostUntil.get(roomId) ?? 0) > now) return
      const forgotten = mayPostForgotten
      yield* rooms.postable(user.id, roomId)
      // News heard during the read may have made this answer stale already: use it once.
      if (forgotten === mayPostForgotten) mayPostUntil.set(roomId, now + options.postCheckTtlMs)
    })

    const handle = (event: ClientEvent): Effect.Effect<void, RoomFailure | EventError> => {
      switch (event.type) {
        case "ping":
          return Effect.sync(() => sendEvent({ type: "pong", ...(event.id === undefined ? {} : { id: event.id }) }))
        case "channel.subscribe":
          return subscribe(event.to, false).pipe(Effect.map(() => ack(event.id, { of: event.type, room_id: event.to })))
        case "channel.unsubscribe":
          return unsubscribe(event.to).pipe(Effect.map(() => ack(event.id, { of: event.type, room_id: event.to })))
        case "channel.resume":
          return resume(event.to, event.after).pipe(
            Effect.map((replayed) => ack(event.id, { of: event.type, room_id: event.to, replayed }))
          )
        case "chat.message":
          return Effect.gen(function* () {
            yield* limits.message(user.id)
            yield* mayPost(event.to)
            const stored = yield* router.submit({
              roomId: event.to,
              userId: user.id,
              username: user.username,
              text: event.payload.text,
              clientMsgId: event.payload.client_msg_id ?? null
            })
            // Queued in order; the ack follows once stored, while later frames are read on.
            yield* stored.pipe(
              Effect.matchCause({
                onFailure: (cause) => {
                  const failure = Cause.findErrorOption(cause)
                  error(
                    event.id,
                    Option.isSome(failure)
                      ? toEventError(failure.value)
                      : new EventError({ code: "internal", message: "the send was not acknowledged; retry it" })
                  )
                },
                onSuccess: (m) => ack(event.id, { of: event.type, room_id: m.room_id, msg_id: m.msg_id, seq: m.seq })
              }),
              Effect.forkDetach
            )
          })
        case "typing.start":
        case "typing.stop":
          return Effect.gen(function* () {
            if (!subscriptions.has(event.to)) {
              return yield* new EventError({ code: "forbidden", message: "subscribe to the room before typing in it" })
            }
            const now = yield* Clock.currentTimeMillis
            if (event.type === "typing.start") {
              // At most one start per interval goes out; the rest are acknowledged and dropped.
              if (now - (typingSentAt.get(event.to) ?? 0) >= options.typingIntervalMs) {
                typingSentAt.set(event.to, now)
                yield* publishTyping(event.to, true)
              }
            } else if (typingSentAt.delete(event.to)) {
              // A stop goes out only to end a start that went out: stops cannot flood a room.
              yield* publishTyping(event.to, false)
            }
            ack(event.id, { of: event.type, room_id: event.to })
          })
      }
    }

    /** Decodes one frame and answers it: an `ack`, a `pong`, or an `error`, never silence. */
    const receive = (data: string | null) =>
      Effect.gen(function* () {
        if (data === null)
          return yield* new EventError({ code: "invalid_event", message: "frames must be JSON text, not binary" })
        const json = yield* Effect.try({ try: () => JSON.parse(data) as unknown, catch: () => null }).pipe(
          Effect.mapError(() => new EventError({ code: "invalid_event", message: "the frame is not valid JSON" }))
        )
        const envelope = yield* decodeEnvelope(json).pipe(
          Effect.mapError(
            () => new EventError({ code: "invalid_event", message: "expected a JSON object with a string `type`" })
          )
        )
        if (!clientEventTypes.includes(envelope.type as ClientEvent["type"])) {
          return yield* new EventError({
            code: "invalid_event",
            message: `unknown event type "${envelope.type.slice(0, 64)}"; expected one of ${clientEventTypes.join(", ")}`
          })
        }
        const event = yield* decodeEvent(json).pipe(
          Effect.mapError((e) => {
            const issue = formatIssue(e.issue).issues[0]
            const path = (issue?.path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join(".")
            return new EventError({
              code: "invalid_event",
              message: issue === undefined ? "invalid event" : `${path}: ${issue.message}`
            })
          })
        )
        yield* handle(event)
      }).pipe(
        Effect.catch((e) => Effect.sync(() => error(envelopeId(data), toEventError(e)))),
        Effect.catchDefect((defect) =>
          Effect.andThen(
            Effect.logError("websocket event failed", defect),
            Effect.sync(() => error(envelopeId(data), new EventError({ code: "internal", message: "internal error" })))
          )
        )
      )

    const close = Effect.gen(function* () {
      closing = true
      yield* Effect.forEach([...subscriptions.keys()], unsubscribe, { discard: true })
    })

    /** The answer to a frame that found the inbound queue full: still one answer per frame. */
    const overflow = (data: string | null) =>
      error(envelopeId(data), new EventError({ code: "rate_limited", message: "too many events in flight; slow down" }))

    return {
      receive,
      subscribe: (roomId: RoomId) => receiveSubscribe(roomId),
      close,
      send,
      overflow,
      revalidate,
      postingChanged: (roomId: RoomId) => forgetMayPost(roomId)
    }

    function receiveSubscribe(roomId: RoomId) {
      return subscribe(roomId, false).pipe(
        Effect.map(() => ack(undefined, { of: "channel.subscribe", room_id: roomId })),
        // Answers no frame of the client's, so it names the room it refuses.
        Effect.catch((e) =>
          Effect.sync(() => {
            const { code, message } = toEventError(e)
            sendEvent({ type: "error", payload: { code, message, room_id: roomId } })
          })
        )
      )
    }
  })

/** The `id` of a frame that failed to decode, when it has a usable one, so errors can be matched. */
const envelopeId = (data: string | null): string | undefined => {
  if (data === null || data.length > 65_536) return undefined
  try {
    const id = (JSON.parse(data) as { id?: unknown })?.id
    return typeof id === "string" && id.length > 0 && id.length <= 64 ? id : undefined
  } catch {
    return undefined
  }
}

export { CloseCode }
