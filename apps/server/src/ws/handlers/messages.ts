/** `chat.message`, `chat.edit`, `chat.delete`: checked, handed to the room's actor, acknowledged once stored. */
import type { DeleteMessage, EditMessage, MessageView, RoomId, SendMessage, ServiceUnavailable } from "@parley/domain"
import { Cause, Clock, Effect, Option } from "effect"
import { before, lateSend } from "../../chat/send-deadline.ts"
import { EventError, type RoomFailure, toEventError } from "../errors.ts"
import type { PendingAck } from "../send-deadlines.ts"
import type { ConnectionState } from "../state.ts"

/**
 * Refuses a send to a room that is archived, deleted, or that the user may not post in.
 * A yes is reused for a while, subscribed or not (a storage read per message would halve
 * a sender's throughput): archiving, deleting or removing someone is announced to every
 * socket of that user on every node (`postingChanged`, through `Revocations`), which forgets
 * the answer, so the next send is checked again. What no check can stop: a send the room
 * actor already accepted when the change lands is still stored (and acknowledged).
 */
export const mayPost = Effect.fnUntraced(function* (conn: ConnectionState, roomId: RoomId) {
  const now = yield* Clock.currentTimeMillis
  if ((conn.mayPostUntil?.get(roomId) ?? 0) > now) return
  const forgotten = conn.mayPostForgotten
  yield* conn.env.rooms.postable(conn.userId, roomId)
  // News heard during the read may have made this answer stale already: use it once.
  if (forgotten !== conn.mayPostForgotten) return
  conn.mayPostUntil ??= new Map()
  conn.mayPostUntil.set(roomId, now + conn.env.options.postCheckTtlMs)
})

const unacknowledged = new EventError({ code: "internal", message: "the send was not acknowledged; retry it" })

/**
 * A send refused by its room's actor. Its room's checks passed before (the sender may change
 * messages there), so a target that is not a message of the room, or was deleted, is
 * `not_found` as over HTTP: saying so reveals nothing.
 */
const refusedByActor = (failure: RoomFailure): EventError =>
  failure._tag === "NotFound"
    ? new EventError({ code: "not_found", message: failure.error.message })
    : toEventError(failure)

/**
 * Whether the user is a site admin now. The upgrade's answer is read again from storage by a
 * socket that had it, for every change that may rest on it: a demotion takes effect at once, as
 * over HTTP (whose every request reads the role). A promotion waits for the next connection.
 */
const siteAdminNow = (conn: ConnectionState): Effect.Effect<boolean, ServiceUnavailable> =>
  conn.user.siteAdmin
    ? conn.env.accounts.authenticateSession(conn.userId, conn.sessionId).pipe(
        Effect.map((caller) => caller.role === "admin"),
        // A session ended meanwhile: its socket is being closed; the send is no admin's.
        Effect.catchTag("Unauthorized", () => Effect.succeed(false))
      )
    : Effect.succeed(false)

/**
 * Queued in order; the ack follows once stored, while later frames are read on. The ack
 * belongs to the connection: it is dropped if the connection closes first. Not stored by
 * `deadlineAt`, the send is answered `service_unavailable` then (`SendDeadlines`).
 */
const ackWhenStored = (
  conn: ConnectionState,
  event: { readonly type: string; readonly id?: string },
  stored: Effect.Effect<MessageView, RoomFailure>,
  deadlineAt: number
) => {
  conn.unanswered++
  const pending: PendingAck = {
    deadlineAt,
    answered: false,
    fiber: undefined,
    late: () => {
      conn.unanswered--
      conn.fork(conn.error(event.id, toEventError(lateSend)))
    }
  }
  const answer = <A>(reply: Effect.Effect<A>) =>
    Effect.suspend(() => {
      if (pending.answered) return Effect.void
      pending.answered = true
      pending.fiber = undefined
      conn.unanswered--
      return reply
    })
  pending.fiber = conn.fork(
    stored.pipe(
      Effect.matchCauseEffect({
        onFailure: (cause) => {
          const failure = Cause.findErrorOption(cause)
          return answer(conn.error(event.id, Option.isSome(failure) ? refusedByActor(failure.value) : unacknowledged))
        },
        onSuccess: (m) =>
          answer(conn.ack(event.id, { of: event.type, room_id: m.room_id, msg_id: m.msg_id, seq: m.seq }))
      })
    )
  )
  conn.env.deadlines.add(pending)
}

/**
 * The checks before a send is handed to its room, bounded by its deadline. Without Redis and
 * with "may post" remembered they cannot wait on anything, and skip the timeout's cost.
 */
const checked = (conn: ConnectionState, roomId: RoomId, deadlineAt: number, checks: Effect.Effect<void, RoomFailure>) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (now >= deadlineAt) return Effect.fail(lateSend)
    const local = !conn.env.limits.shared && (conn.mayPostUntil?.get(roomId) ?? 0) > now
    return local ? checks : before(deadlineAt)(checks)
  })

/**
 * An edit or delete: the room's rules first (`ChatRooms.changeable`), then the room's actor,
 * which checks the message itself; acked like a send, with the stored event's id and `seq`.
 */
export const changeMessage = Effect.fnUntraced(function* (
  conn: ConnectionState,
  event: typeof EditMessage.Type | typeof DeleteMessage.Type,
  deadlineAt: number
) {
  const { env } = conn
  const kind = event.type === "chat.edit" ? "edit" : "delete"
  const { moderator } = yield* before(deadlineAt)(
    Effect.andThen(
      env.limits.message(conn.userId),
      Effect.flatMap(siteAdminNow(conn), (siteAdmin) =>
        env.rooms.changeable({ id: conn.userId, siteAdmin }, event.to, kind)
      )
    )
  )
  const stored = yield* env.router.submit({
    roomId: event.to,
    userId: conn.userId,
    username: conn.user.username,
    text: "text" in event.payload ? event.payload.text : "",
    clientMsgId: event.payload.client_msg_id ?? null,
    change: { kind, targetId: event.payload.msg_id, moderator }
  })
  ackWhenStored(conn, event, stored, deadlineAt)
})

export const sendMessage = Effect.fnUntraced(function* (
  conn: ConnectionState,
  event: typeof SendMessage.Type,
  deadlineAt: number
) {
  const { env } = conn
  yield* checked(conn, event.to, deadlineAt, Effect.andThen(env.limits.message(conn.userId), mayPost(conn, event.to)))
  const stored = yield* env.router.submit({
    roomId: event.to,
    userId: conn.userId,
    username: conn.user.username,
    text: event.payload.text,
    clientMsgId: event.payload.client_msg_id ?? null
  })
  ackWhenStored(conn, event, stored, deadlineAt)
})
