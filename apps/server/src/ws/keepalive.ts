/**
 * A connection's timers, as one fiber in its fiber set: pings that find dead peers, periodic
 * re-checks of the session, and the close when the access token expires. Closing the
 * connection interrupts it. Time is Effect's `Clock` (tests drive it with `TestClock`; a
 * token valid for months is one long sleep, which the clock handles).
 *
 * One fiber with one wake-up at a time rather than a `Schedule` per timer: an idle socket
 * pays for one sleeping fiber (about 1.4 KB) instead of three scheduled ones (about 3.5 KB each).
 */
import { CloseCode } from "@parley/domain"
import { Clock, Effect } from "effect"
import type { ConnectionState } from "./state.ts"

/** The session is still valid: re-check the rooms; revoked: close (an expired token closes on its own). */
const reauthenticate = (conn: ConnectionState) =>
  conn.env.accounts.authenticate(conn.token).pipe(
    // Still signed in: re-check the rooms it listens to, in order with its events.
    Effect.tap(() => Effect.sync(() => conn.inbound.offerControl(conn.env.revalidate(conn)))),
    Effect.catchTag("Unauthorized", () =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          if (now < conn.expiresAt) conn.closeWith(CloseCode.sessionRevoked, "session revoked or account disabled")
        })
      )
    ),
    Effect.ignore
  )

/** When the next ping and the next re-check are due (epoch ms); one record per connection. */
interface Due {
  ping: number
  reauth: number
}

/** One wake-up: acts on what is due, then sleeps until the next thing is. */
const tick = (conn: ConnectionState, due: Due): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<void> => {
    if (conn.stopped) return Effect.void
    if (now >= conn.expiresAt) {
      conn.closeWith(CloseCode.tokenExpired, "access token expired; refresh and reconnect")
      return Effect.void
    }
    if (now >= due.ping) {
      // Not answered since the last ping: the peer is gone.
      if (!conn.alive) {
        conn.stopped = true
        conn.socket.terminate()
        return Effect.void
      }
      conn.alive = false
      conn.socket.ping()
      due.ping = now + conn.env.options.pingIntervalMs
    }
    if (now >= due.reauth) {
      // A slow store delays the next check rather than piling checks up.
      return reauthenticate(conn).pipe(
        Effect.andThen(Clock.currentTimeMillis),
        Effect.flatMap((after) => {
          due.reauth = after + conn.env.options.reauthIntervalMs
          return tick(conn, due)
        })
      )
    }
    return Effect.andThen(Effect.sleep(Math.min(due.ping, due.reauth, conn.expiresAt) - now), tick(conn, due))
  })

/** Runs until the connection stops; started once per connection. */
export const keepalive = (conn: ConnectionState): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (start) =>
    tick(conn, { ping: start + conn.env.options.pingIntervalMs, reauth: start + conn.env.options.reauthIntervalMs })
  )
