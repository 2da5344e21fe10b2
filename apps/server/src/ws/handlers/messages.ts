/** `chat.message`, `chat.edit`, `chat.delete`: checked, handed to the room's actor, acknowledged once stored. */
import type { DeleteMessage, EditMessage, RoomId, SendMessage, ServiceUnavailable } from "@parley/domain"
import { Cause, Clock, Effect, Exit, Option } from "effect"
import type { Change } from "../../chat/message-changes.ts"
import type { SendReply, SendRequest } from "../../chat/room-actor.ts"
import { before, lateSend } from "../../chat/send-deadline.ts"
import { EventError, type RoomFailure, toEventError } from "../errors.ts"
import type { PendingAck } from "../send-deadlines.ts"
import { ackEvent, type ConnectionState, errorEvent } from "../state.ts"

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
 * Hands the send to its room, in order, and answers it once stored, while later frames are
 * read on. The answer is the actor's reply (a callback, no fiber per send); once the
 * connection has closed it is dropped (`send` writes nothing then). Not stored by
 * `deadlineAt`, the send is answered `service_unavailable` then (`SendDeadlines`), and a
 * later reply is ignored.
 */
const submitAcked = (
  conn: ConnectionState,
  event: typeof SendMessage.Type | typeof EditMessage.Type | typeof DeleteMessage.Type,
  deadlineAt: number,
  change?: Change
) => {
  const request: SendRequest = {
    roomId: event.to,
    userId: conn.userId,
    username: conn.user.username,
    text: "text" in event.payload ? event.payload.text : "",
    clientMsgId: event.payload.client_msg_id ?? null,
    change
  }
  const pending: PendingAck = {
    deadlineAt,
    answered: false,
    late: () => {
      conn.unanswered--
      conn.replyNow(errorEvent(event.id, toEventError(lateSend)))
    }
  }
  /** Whether this answer is the send's first (the reply, a refusal at the door, or the deadline's). */
  const first = () => {
    if (pending.answered) return false
    pending.answered = true
    conn.unanswered--
    return true
  }
  const reply: SendReply<RoomFailure> = (exit) => {
    if (!first()) return
    if (Exit.isSuccess(exit)) {
      const m = exit.value
      conn.replyNow(ackEvent(event.id, { of: event.type, room_id: m.room_id, msg_id: m.msg_id, seq: m.seq }))
    } else {
      const failure = Cause.findErrorOption(exit.cause)
      conn.replyNow(errorEvent(event.id, Option.isSome(failure) ? refusedByActor(failure.value) : unacknowledged))
    }
  }
  conn.unanswered++
  conn.env.deadlines.add(pending)
  // Refused at the door (a full mailbox, no owner), or a defect: the handler's failure is the
  // answer, not the deadline's.
  return Effect.onError(conn.env.router.submitWith(request, reply), () => Effect.sync(first))
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
  yield* submitAcked(conn, event, deadlineAt, { kind, targetId: event.payload.msg_id, moderator })
})

export const sendMessage = Effect.fnUntraced(function* (
  conn: ConnectionState,
  event: typeof SendMessage.Type,
  deadlineAt: number
) {
  const { env } = conn
  yield* checked(conn, event.to, deadlineAt, Effect.andThen(env.limits.message(conn.userId), mayPost(conn, event.to)))
  yield* submitAcked(conn, event, deadlineAt)
})
