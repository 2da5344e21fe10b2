import { Effect, Layer, Queue, Schedule, Schema } from "effect"
import { Redis } from "effect/persistence"
import { localListeners, Revocation, Revocations } from "./revocations.ts"

/** On the wire: the revocation and the node that published it (which has already acted on it). */
const Envelope = Schema.fromJsonString(Schema.Struct({ origin: Schema.String, revocation: Revocation }))
const encode = Schema.encodeSync(Envelope)
const decode = Schema.decodeUnknownEffect(Envelope)

/**
 * Every node of the cluster on one Redis pub/sub channel, next to (not among) the room
 * channels. The publishing node delivers to its own listeners first, so its sockets close
 * even when Redis is down; the others hear it through Redis.
 */
export const layerRedis = (options: { readonly cluster: string }) =>
  Layer.effect(
    Revocations,
    Effect.gen(function* () {
      const redis = yield* Redis.Redis
      const channel = `parley:${options.cluster}:revocations`
      const self = crypto.randomUUID()
      const listeners = localListeners()

      const receive = (message: string) =>
        decode(message).pipe(
          Effect.tap((envelope) =>
            Effect.sync(() => {
              if (envelope.origin !== self) listeners.deliver(envelope.revocation)
            })
          ),
          Effect.catch((error) => Effect.logWarning("ignoring a malformed revocation", error))
        )

      /** Subscribes (resolving once the subscription is live) and hands back the loop that reads it. */
      const subscribe = Effect.map(redis.subscribe(channel), (messages) =>
        Effect.forever(Effect.flatMap(Queue.take(messages), (m) => receive(m.message)))
      )
      // The first subscription is live before the server opens its port; a failed one is
      // retried, since missing revocations only delays closes to the periodic re-check.
      const first = yield* subscribe
      yield* first.pipe(
        Effect.catchCause((cause) => Effect.logWarning("revocation subscription failed; resubscribing", cause)),
        Effect.andThen(
          Effect.scoped(Effect.flatten(subscribe)).pipe(
            Effect.tapCause((cause) => Effect.logWarning("revocation subscription failed; resubscribing", cause)),
            Effect.retry(Schedule.spaced("1 second"))
          )
        ),
        Effect.forkScoped
      )

      return Revocations.of({
        publish: (revocation) =>
          Effect.andThen(
            Effect.sync(() => listeners.deliver(revocation)),
            redis
              .send("PUBLISH", channel, encode({ origin: self, revocation }))
              .pipe(
                Effect.catchCause((cause) =>
                  Effect.logWarning("revocation not sent to other nodes; they close at their next re-check", cause)
                )
              )
          ),
        listen: listeners.listen
      })
    })
  )
