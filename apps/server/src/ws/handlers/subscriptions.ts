/**
 * `channel.subscribe`, `channel.unsubscribe`, `channel.resume`, and the server's own
 * re-checks of what a connection may still read.
 */
import { type MessageId, type RoomId, ServiceUnavailable } from "@parley/domain"
import { Effect, Option, Stream } from "effect"
import type { RoomAccessResult } from "../../chat/rooms.ts"
import { historyAfter } from "../../history/reader.ts"
import { unavailable } from "../../storage-errors.ts"
import { toMessageView } from "../../views/chat.ts"
import { eventFrame } from "../codec.ts"
import { EventError } from "../errors.ts"
import { type AckPayload, type ConnectionState, Subscription } from "../state.ts"
import { ackWithOnline } from "./presence.ts"

/**
 * Listens to a room the user may read. Its live events wait until `releaseHeld` (the caller
 * answers first: see `subscribedThenLive`). `access`: storage's answer read already (the URL's
 * room, read with the session), else read now.
 */
export const subscribe = Effect.fnUntraced(function* (
  conn: ConnectionState,
  roomId: RoomId,
  access: RoomAccessResult | null = null
) {
  const { env } = conn
  const max = env.options.maxSubscriptions
  if (conn.subscriptions?.has(roomId) !== true && (conn.subscriptions?.size ?? 0) >= max) {
    return yield* new EventError({
      code: "limit_reached",
      message: `at most ${max} subscriptions per connection; unsubscribe from a room first`
    })
  }
  // The URL's room was read with the session, from `authenticatedAt`.
  const readAt = access === null ? env.clock.currentTimeMillisUnsafe() : conn.authenticatedAt
  yield* access ?? env.rooms.access(conn.userId, roomId)
  const existing = conn.subscriptions?.get(roomId)
  if (existing !== undefined) {
    existing.replay ??= []
    return existing
  }
  const subscription = new Subscription(conn)
  conn.addSubscription(roomId, subscription)
  yield* env.hub.join(roomId, subscription).pipe(
    Effect.tapError((cause) =>
      Effect.andThen(
        Effect.sync(() => conn.removeSubscription(roomId)),
        Effect.logError("room subscription failed", cause)
      )
    ),
    Effect.mapError(() => new ServiceUnavailable())
  )
  // A change for the room's next window, not a broadcast now: see `realtime/presence.ts`.
  yield* env.presence.join(roomId, { connId: conn.connId, userId: conn.userId, username: conn.user.username })
  // A removal (or the room's end) announced after the read and before the hub had this
  // subscription reached nobody here: read again, and refuse the subscribe if it no longer holds.
  if (env.connections.roomsChangedSince(conn.userId, readAt)) {
    yield* env.rooms.access(conn.userId, roomId).pipe(Effect.tapError(() => unsubscribe(conn, roomId)))
  }
  return subscription
})

// Uninterruptible: a socket closing halfway must not leave the user in presence for good.
export const unsubscribe = (conn: ConnectionState, roomId: RoomId) =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      const subscription = conn.removeSubscription(roomId)
      if (subscription === undefined) return
      const { env } = conn
      yield* env.hub.leave(roomId, subscription)
      // Leaving a room (or disconnecting) from the connection one typed from stops typing in it.
      yield* env.typing.leave(roomId, conn.userId, conn.connId)
      yield* env.presence.leave(roomId, conn.connId)
    })
  )

/** Leaves every room: the connection closed. */
export const leaveAll = (conn: ConnectionState) =>
  Effect.suspend(() =>
    Effect.forEach([...(conn.subscriptions?.keys() ?? [])], (roomId) => unsubscribe(conn, roomId), { discard: true })
  )

/** Ends a subscription the server no longer allows, telling the client which room and why. */
export const endSubscription = (conn: ConnectionState, roomId: RoomId, message: string) =>
  Effect.gen(function* () {
    if (conn.subscriptions?.has(roomId) !== true) return
    yield* unsubscribe(conn, roomId)
    yield* conn.error(undefined, new EventError({ code: "forbidden", message }), roomId)
  })

/**
 * Re-checks every subscription: a member removed from a private room, or a room that is
 * gone, stops receiving it. Runs in the connection's inbound order, like a client event.
 */
export const revalidate = (conn: ConnectionState): Effect.Effect<void> =>
  Effect.gen(function* () {
    conn.forgetMayPost(null)
    for (const roomId of [...(conn.subscriptions?.keys() ?? [])]) {
      const allowed = yield* conn.env.rooms.access(conn.userId, roomId).pipe(
        Effect.as(true),
        Effect.catchTag("NotFound", () => Effect.succeed(false)),
        // Storage trouble is no reason to cut anyone off; the next round decides.
        Effect.catch(() => Effect.succeed(true))
      )
      if (allowed) continue
      yield* endSubscription(conn, roomId, "you may no longer read this room; unsubscribed")
    }
  }).pipe(Effect.catchCause((cause) => Effect.logWarning("subscription check failed", cause)))

/** Lets the room's held live events through, in order (what the socket has is dropped), then live. */
export const releaseHeld = (conn: ConnectionState, roomId: RoomId) =>
  Effect.sync(() => {
    const subscription = conn.subscriptions?.get(roomId)
    if (subscription === undefined || subscription.replay === null) return
    const held = subscription.replay
    subscription.replay = null
    subscription.heldBytes = 0
    for (const delivery of held) subscription.deliver(roomId, delivery)
  })

/**
 * A subscribe or resume (`subscribing`) answered with an `ack` of `payload` and the online
 * list, the room's live events held until both are written: a live message never comes before
 * the ack that says the subscription exists. Released whatever happens, so a failure never
 * holds a room's events.
 */
export const subscribedThenLive = <A, E, R>(
  conn: ConnectionState,
  id: string | undefined,
  roomId: RoomId,
  subscribing: Effect.Effect<A, E, R>,
  payload: (subscribed: A) => AckPayload
) =>
  Effect.ensuring(
    Effect.flatMap(subscribing, (subscribed) => ackWithOnline(conn, id, payload(subscribed), roomId)),
    releaseHeld(conn, roomId)
  )

/** Replays stored messages after `after`; the live events held meanwhile wait for the caller's answer. */
export const resume = Effect.fnUntraced(function* (conn: ConnectionState, roomId: RoomId, after: MessageId) {
  const subscription = yield* subscribe(conn, roomId)
  let replayed = 0
  // Skips only what this replay sent. On a subscription that already had live messages (a
  // plain subscribe before, or a resume whose read failed), those may come again, but what
  // came before them is not lost. The held live messages are then deduplicated against it.
  let sentUpTo = 0
  yield* unavailable(
    Stream.runForEach(historyAfter(conn.env.messages, roomId, after), (record) =>
      Effect.sync(() => {
        if (record.seq <= sentUpTo) return
        sentUpTo = record.seq
        if (record.seq > subscription.lastSeq) subscription.lastSeq = record.seq
        conn.send(eventFrame({ type: "chat.message", payload: toMessageView(record) }))
        replayed++
      })
    )
  )
  // Nothing after `after`: the client has the room's newest message, whose broadcast may still
  // be on its way to this node (it came to the client through another). Its `seq` is the floor.
  if (replayed === 0) {
    const known = yield* unavailable(conn.env.messages.find(roomId, after))
    if (Option.isSome(known) && known.value.seq > subscription.lastSeq) subscription.lastSeq = known.value.seq
  }
  return replayed
})
