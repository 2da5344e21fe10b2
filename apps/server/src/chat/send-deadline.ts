/**
 * A send (a message, an edit, a delete; over HTTP or WebSocket) is answered within its
 * deadline, counted from its arrival, whatever it waits on: a rate-limit command to a silent
 * Redis, a storage read, the room's commit, and on a socket the frames before it (a socket's
 * frames run one at a time). Each of those has its own timeout, but in turn they add up; only
 * a deadline from the arrival bounds what the user waits. Past it the send fails with
 * `service_unavailable`. A send that reached the room's actor may still be stored after that:
 * its retry with the same `client_msg_id` finds it, and is stored once.
 */
import { ServiceUnavailable } from "@parley/domain"
import { Clock, Config, Duration, Effect } from "effect"

export const SendDeadlineConfig = Config.Duration("SEND_DEADLINE").pipe(Config.withDefault(Duration.millis(1500)))

export const lateSend = new ServiceUnavailable({
  error: {
    code: "service_unavailable",
    message: "the send was not answered in time (a dependency is slow or down); retry it with the same client_msg_id"
  }
})

/** Fails `effect` with `lateSend` (interrupting it) once `deadlineAt` (epoch ms) has passed. */
export const before =
  (deadlineAt: number) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | ServiceUnavailable, R> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      now >= deadlineAt
        ? Effect.fail(lateSend)
        : Effect.timeoutOrElse(effect, { duration: deadlineAt - now, orElse: () => Effect.fail(lateSend) })
    )
