import {
  Forbidden,
  MessageId,
  type MessageView,
  MessageView as MessageViewSchema,
  NotFound,
  Overloaded,
  type RoomId,
  ServiceUnavailable,
  UserId
} from "@parley/domain"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  FiberSet,
  Layer,
  Option,
  Result,
  Schema,
  type Tracer
} from "effect"
import { Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { callerSpan, servingMany, tracingOn } from "../observability/spans.ts"
import type { ChangeRefused } from "./message-changes.ts"
import { awaitingReply, RoomActors, replyGuarded, type SendReply, type SendRequest } from "./room-actor.ts"

/**
 * Where a send goes: to the one actor that owns its room. On one node that is this node's
 * actor. With several nodes, each room is an `effect/cluster` entity: Sharding gives every
 * room's shard to exactly one node at a time, and sends are forwarded there, so only one
 * actor anywhere assigns a room's `seq`.
 */
export class RoomRouter extends Context.Service<
  RoomRouter,
  {
    /**
     * Queues the send in call order; the returned effect waits for the stored message. A room
     * without a reachable owner refuses with `ServiceUnavailable` and a retry hint.
     */
    readonly submit: (
      request: SendRequest
    ) => Effect.Effect<
      Effect.Effect<MessageView, Overloaded | ServiceUnavailable | ChangeRefused>,
      Overloaded | ServiceUnavailable
    >
    /** `submit`, answered through `reply` (once) instead of an effect to wait on: no fiber per send. */
    readonly submitWith: (
      request: SendRequest,
      reply: SendReply<Overloaded | ServiceUnavailable | ChangeRefused>
    ) => Effect.Effect<void, Overloaded | ServiceUnavailable>
  }
>()("parley/server/chat/RoomRouter") {
  /** One node: straight into the local actor's mailbox. */
  static readonly layerLocal = Layer.effect(
    RoomRouter,
    Effect.map(RoomActors, (actors) => RoomRouter.of({ submit: actors.submit, submitWith: actors.submitWith }))
  )

  /**
   * Several nodes: through the room entity, wherever its shard lives. Per room, this node
   * forwards one batch at a time and queues what arrives meanwhile for the next: a batch is
   * handed to the owner's actor in order, so one connection's sends keep their order even
   * when the cluster retries a forward (which could let a later single send overtake).
   */
  static readonly layerCluster = Layer.effect(
    RoomRouter,
    Effect.gen(function* () {
      const clientFor = yield* RoomEntity.client
      const runFork = yield* FiberSet.makeRuntime()
      const waiting = new Map<RoomId, RoomQueue>()

      const traced = yield* tracingOn
      // Traced, a forward is a child of its first send's span and linked to the others';
      // effect/cluster carries it to the owner, whose entity handler continues the trace.
      const forwardBatch = (roomId: RoomId, batch: ReadonlyArray<Forward>) =>
        traced
          ? Effect.withSpan(
              forwardUntraced(roomId, batch),
              "room.forward",
              servingMany(
                batch.map((f) => f.span),
                { room_id: roomId, "room.batch.messages": batch.length }
              )
            )
          : forwardUntraced(roomId, batch)
      const forwardUntraced = (roomId: RoomId, batch: ReadonlyArray<Forward>) =>
        clientFor(roomId)
          .Send({
            messages: batch.map(({ request }) => ({
              user_id: request.userId,
              username: request.username,
              text: request.text,
              client_msg_id: request.clientMsgId,
              ...(request.change === undefined
                ? {}
                : {
                    change: {
                      kind: request.change.kind,
                      target_id: request.change.targetId,
                      moderator: request.change.moderator
                    }
                  })
            }))
          })
          .pipe(
            // Each of these means the room has no reachable owner right now (an entity
            // mailbox holds at most one forward per node and room, so it is never full from
            // load): the sender retries once ownership has settled.
            Effect.catchTags({
              MailboxFull: () => Effect.fail(noOwner()),
              AlreadyProcessingMessage: () => Effect.fail(noOwner()),
              PersistenceError: (e) =>
                Effect.andThen(Effect.logError("room routing failed", e), Effect.fail(noOwner())),
              EntityNotAssignedToRunner: (e) =>
                Effect.andThen(Effect.logError("room routing failed", e), Effect.fail(noOwner()))
            }),
            // Sharding retries an unassigned room without end; a sender must hear back.
            Effect.timeoutOrElse({
              duration: forwardTimeout,
              orElse: () =>
                Effect.andThen(Effect.logWarning("room owner did not answer in time"), Effect.fail(noOwner()))
            }),
            Effect.matchCause({
              onFailure: (cause) => {
                // A defect is the owner dying mid-send (its socket closed under the forward).
                const error = Option.getOrElse(Cause.findErrorOption(cause), noOwner)
                // What waits behind this forward would meet the same missing owner, one
                // forward timeout after another: it is refused now, and retried by its sender.
                const stuck = [...batch, ...(waiting.get(roomId)?.queue.splice(0) ?? [])]
                for (const { reply } of stuck) replyGuarded(reply, Exit.fail(error), runFork)
              },
              onSuccess: (outcomes) =>
                batch.forEach(({ reply }, i) => {
                  const outcome = outcomes[i]
                  replyGuarded(
                    reply,
                    outcome === undefined || "failed" in outcome
                      ? Exit.fail(failureOf(outcome))
                      : Exit.succeed(outcome),
                    runFork
                  )
                })
            })
          )

      /** Forwards the room's waiting sends, batch after batch, until none are left. */
      const drain = (roomId: RoomId) =>
        Effect.gen(function* () {
          for (;;) {
            const room = waiting.get(roomId)!
            // Checked and removed in one synchronous step: a later send starts a new drain.
            if (room.queue.length === 0) return waiting.delete(roomId)
            room.forwardSince = yield* Clock.currentTimeMillis
            yield* forwardBatch(roomId, room.queue.splice(0, maxForwardBatch))
          }
        })

      const submitWith = (request: SendRequest, reply: SendReply<Overloaded | ServiceUnavailable | ChangeRefused>) =>
        Effect.gen(function* () {
          const span = traced ? yield* callerSpan : undefined
          const room = waiting.get(request.roomId)
          const now = yield* Clock.currentTimeMillis
          if (room === undefined) {
            waiting.set(request.roomId, { queue: [{ request, reply, span }], forwardSince: now })
            runFork(drain(request.roomId))
          } else if (room.queue.length >= maxWaitingPerRoom) {
            // Full behind a forward that is taking long: the owner is missing, not busy.
            return yield* now - room.forwardSince >= stalledAfterMs ? noOwner() : new Overloaded()
          } else {
            room.queue.push({ request, reply, span })
          }
        })
      return RoomRouter.of({ submit: awaitingReply(submitWith), submitWith })
    })
  )
}

interface Forward {
  readonly request: SendRequest
  readonly reply: SendReply<Overloaded | ServiceUnavailable | ChangeRefused>
  /** The sender's span, when spans are exported. */
  readonly span: Tracer.AnySpan | undefined
}

/** One room's sends on this node: those waiting, and when the forward under way started. */
interface RoomQueue {
  readonly queue: Array<Forward>
  forwardSince: number
}

/** The most sends in one forward; the owner's actor splits them further by bytes. */
const maxForwardBatch = 128
/** Sends this node holds for one room while a forward is under way. */
const maxWaitingPerRoom = 1024

/**
 * A forward the owner has not answered in this long fails: a missing owner is found and
 * replaced within about 3 s (`cluster/cluster.ts`), so the sender retries (with its
 * `client_msg_id`, which is safe) instead of waiting out the handover with its send.
 */
const forwardTimeout = Duration.seconds(2)
/** A forward this old means the owner is not answering: a full queue behind it is no overload. */
const stalledAfterMs = 1000
/** Seconds a sender should wait before retrying a room without an owner: about one handover step. */
const retryAfterSeconds = 1
const noOwner = () => new ServiceUnavailable({ retryAfterSeconds })

/** A send's answer, one per message of a batch: the stored message, or why it was refused. */
const SendOutcome = Schema.Union([
  MessageViewSchema,
  Schema.Struct({ failed: Schema.Literals(["overloaded", "service_unavailable"]) }),
  // An edit or delete refused by the owner's actor, with the message its sender sees.
  Schema.Struct({ failed: Schema.Literals(["not_found", "forbidden"]), message: Schema.String })
])
type Failed = Exclude<typeof SendOutcome.Type, MessageView>

const failureOf = (outcome: Failed | undefined): Overloaded | ServiceUnavailable | ChangeRefused => {
  switch (outcome?.failed) {
    case "overloaded":
      return new Overloaded()
    case "not_found":
      return new NotFound({ error: { code: "not_found", message: outcome.message } })
    case "forbidden":
      return new Forbidden({ error: { code: "forbidden", message: outcome.message } })
    default:
      return noOwner()
  }
}

const outcomeOf = (e: Overloaded | ServiceUnavailable | ChangeRefused): Failed => {
  switch (e._tag) {
    case "Overloaded":
      return { failed: "overloaded" }
    case "NotFound":
      return { failed: "not_found", message: e.error.message }
    case "Forbidden":
      return { failed: "forbidden", message: e.error.message }
    default:
      return { failed: "service_unavailable" }
  }
}

export const Send = Rpc.make("Send", {
  payload: {
    messages: Schema.Array(
      Schema.Struct({
        user_id: UserId,
        username: Schema.String,
        text: Schema.String,
        client_msg_id: Schema.NullOr(Schema.String),
        /** An edit or delete (see `message-changes.ts`), checked by the owner's actor. */
        change: Schema.optionalKey(
          Schema.Struct({
            kind: Schema.Literals(["edit", "delete"]),
            target_id: MessageId,
            moderator: Schema.Boolean
          })
        )
      })
    )
  },
  success: Schema.Array(SendOutcome)
})

export const RoomEntity = Entity.make("Room", [Send])

/** Runs on the node that owns the room: hands sends to the local actor in arrival order. */
export const RoomEntityLive = RoomEntity.toLayer(
  Effect.gen(function* () {
    const actors = yield* RoomActors
    const address = yield* Entity.CurrentAddress
    const roomId = address.entityId as string as RoomId
    // This node now owns the room; another node may have written to it in the meantime.
    yield* actors.forget(roomId)
    // And when it stops owning it, its actor must stop writing: one writer per room.
    yield* Effect.addFinalizer(() => actors.retire(roomId))
    return RoomEntity.of({
      Send: ({ payload }) =>
        Effect.gen(function* () {
          // Every message enters the mailbox before any is awaited: order kept, one group commit.
          const waits = yield* Effect.forEach(payload.messages, (m) =>
            Effect.result(
              actors.submit({
                roomId,
                userId: m.user_id,
                username: m.username,
                text: m.text,
                clientMsgId: m.client_msg_id,
                change:
                  m.change === undefined
                    ? undefined
                    : { kind: m.change.kind, targetId: m.change.target_id, moderator: m.change.moderator }
              })
            )
          )
          return yield* Effect.forEach(waits, (wait): Effect.Effect<typeof SendOutcome.Type> => {
            const stored: Effect.Effect<MessageView, Overloaded | ServiceUnavailable | ChangeRefused> =
              Result.isFailure(wait) ? Effect.fail(wait.failure) : wait.success
            return stored.pipe(Effect.catch((e) => Effect.succeed(outcomeOf(e))))
          })
        })
    })
  }),
  // Concurrent handlers feed the actor's mailbox in arrival order, so it can group-commit.
  { concurrency: "unbounded", maxIdleTime: "5 minutes" }
)
