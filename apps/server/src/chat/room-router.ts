import {
  type MessageView,
  MessageView as MessageViewSchema,
  Overloaded,
  type RoomId,
  ServiceUnavailable,
  UserId
} from "@parley/domain"
import { Context, Duration, Effect, Fiber, Layer, Schema } from "effect"
import { Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { RoomActors, type SendRequest } from "./room-actor.ts"

/**
 * Where a send goes: to the one actor that owns its room. On one node that is this node's
 * actor. With several nodes, each room is an `effect/cluster` entity: Sharding gives every
 * room's shard to exactly one node at a time, and sends are forwarded there, so only one
 * actor anywhere assigns a room's `seq`.
 */
export class RoomRouter extends Context.Service<
  RoomRouter,
  {
    /** Queues the send in call order; the returned effect waits for the stored message. */
    readonly submit: (
      request: SendRequest
    ) => Effect.Effect<Effect.Effect<MessageView, Overloaded | ServiceUnavailable>, Overloaded>
  }
>()("parley/server/chat/RoomRouter") {
  /** One node: straight into the local actor's mailbox. */
  static readonly layerLocal = Layer.effect(
    RoomRouter,
    Effect.map(RoomActors, (actors) => RoomRouter.of({ submit: actors.submit }))
  )

  /** Several nodes: through the room entity, wherever its shard lives. */
  static readonly layerCluster = Layer.effect(
    RoomRouter,
    Effect.gen(function* () {
      const clientFor = yield* RoomEntity.client
      return RoomRouter.of({
        submit: (request) =>
          Effect.gen(function* () {
            // Forked now so that sends leave in call order, whatever the caller does next.
            const reply = yield* clientFor(request.roomId)
              .Send({
                user_id: request.userId,
                username: request.username,
                text: request.text,
                client_msg_id: request.clientMsgId
              })
              .pipe(
                Effect.catchTags({
                  MailboxFull: () => Effect.fail(new Overloaded()),
                  AlreadyProcessingMessage: () => Effect.fail(new ServiceUnavailable()),
                  PersistenceError: (e) =>
                    Effect.andThen(Effect.logError("room routing failed", e), Effect.fail(new ServiceUnavailable())),
                  EntityNotAssignedToRunner: (e) =>
                    Effect.andThen(Effect.logError("room routing failed", e), Effect.fail(new ServiceUnavailable()))
                }),
                // Sharding retries an unassigned room without end; a sender must hear back.
                Effect.timeoutOrElse({
                  duration: forwardTimeout,
                  orElse: () =>
                    Effect.andThen(
                      Effect.logWarning("room owner did not answer in time"),
                      Effect.fail(new ServiceUnavailable())
                    )
                }),
                Effect.forkDetach
              )
            return Fiber.join(reply)
          })
      })
    })
  )
}

/** Long enough for an ownership change to settle; a retry with its `client_msg_id` is safe. */
const forwardTimeout = Duration.seconds(15)

export const Send = Rpc.make("Send", {
  payload: {
    user_id: UserId,
    username: Schema.String,
    text: Schema.String,
    client_msg_id: Schema.NullOr(Schema.String)
  },
  success: MessageViewSchema,
  error: Schema.Union([Overloaded, ServiceUnavailable])
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
        actors.send({
          roomId,
          userId: payload.user_id,
          username: payload.username,
          text: payload.text,
          clientMsgId: payload.client_msg_id
        })
    })
  }),
  // Concurrent handlers feed the actor's mailbox in arrival order, so it can group-commit.
  { concurrency: "unbounded", maxIdleTime: "5 minutes" }
)
