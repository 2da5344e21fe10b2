/**
 * The node's connection timers, as one fiber for all connections: pings that find dead peers,
 * periodic re-checks of each session, and the close when an access token expires. It sleeps
 * until the earliest thing due, then looks at each live connection and acts on what is due,
 * waking at most once per `sweepMs` (so a timer may be up to that late). Time is Effect's
 * `Clock` (tests drive it with `TestClock`).
 *
 * One fiber per node rather than one per connection: a sleeping fiber and its timer cost an
 * idle socket about 1.4 KB and a wake-up of its own; here a connection costs two numbers.
 */
import { CloseCode } from "@parley/domain"
import { Clock, Deferred, Effect, Exit } from "effect"
import type { ConnectionState } from "./state.ts"

/** Re-checks in flight at once, so that a sweep with many due does not flood storage. */
const reauthConcurrency = 8

/** The session is still valid: re-check the rooms; revoked: close (an expired token closes on its own). */
const reauthenticate = (conn: ConnectionState): Effect.Effect<void> =>
  conn.env.accounts.authenticateSession(conn.userId, conn.sessionId).pipe(
    // Still signed in: re-check the rooms it listens to, in order with its events.
    Effect.tap(() => Effect.sync(() => conn.inbound.offerControl(conn.env.revalidate(conn)))),
    Effect.catchTag("Unauthorized", () =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          if (now < conn.expiresAt) conn.closeWith(CloseCode.sessionRevoked, "session revoked or account disabled")
        })
      )
    ),
    Effect.ignore,
    // A slow store delays this connection's next check rather than piling checks up.
    Effect.andThen(Clock.currentTimeMillis),
    Effect.flatMap((after) =>
      Effect.sync(() => {
        conn.nextReauth = after + conn.env.options.reauthIntervalMs
        conn.env.keepalive.schedule(conn)
      })
    )
  )

/** Acts on what is due for one connection; returns whether its session re-check is due. */
const due = (conn: ConnectionState, now: number): boolean => {
  if (conn.stopped) return false
  if (now >= conn.expiresAt) {
    conn.closeWith(CloseCode.tokenExpired, "access token expired; refresh and reconnect")
    return false
  }
  if (now >= conn.nextPing) {
    // Not answered since the last ping: the peer is gone.
    if (!conn.alive) {
      conn.stopped = true
      conn.socket.terminate()
      return false
    }
    conn.alive = false
    conn.socket.ping()
    conn.nextPing = now + conn.env.options.pingIntervalMs
  }
  if (now < conn.nextReauth) return false
  conn.nextReauth = Number.POSITIVE_INFINITY // until this check is done
  return true
}

const nextDue = (conn: ConnectionState) => Math.min(conn.nextPing, conn.nextReauth, conn.expiresAt)

/** The node's connections the sweep looks after, and the sweep itself. */
export class Keepalive {
  private readonly live = new Set<ConnectionState>()
  /** When the sweeper wakes next (epoch ms), and how to wake it sooner. */
  private wakeAt = Number.POSITIVE_INFINITY
  private wake: Deferred.Deferred<void> | undefined = undefined

  /** From now on, `conn` is pinged, re-checked and closed at expiry. */
  add(conn: ConnectionState, now: number): void {
    conn.nextPing = now + conn.env.options.pingIntervalMs
    conn.nextReauth = now + conn.env.options.reauthIntervalMs
    this.live.add(conn)
    this.schedule(conn)
  }
  remove(conn: ConnectionState): void {
    this.live.delete(conn)
  }
  /** Wakes the sweeper sooner if `conn` is due before it would wake (a token about to expire). */
  schedule(conn: ConnectionState): void {
    if (nextDue(conn) >= this.wakeAt || this.wake === undefined) return
    this.wakeAt = Number.NEGATIVE_INFINITY
    Deferred.doneUnsafe(this.wake, Exit.void)
  }

  /**
   * Acts on what is due, in one pass: the connections whose session re-check is due, and when
   * the next thing is due (a re-check under way counts once it is done, through `schedule`).
   */
  private sweep(now: number): { readonly reauth: Array<ConnectionState>; readonly earliest: number } {
    const reauth: Array<ConnectionState> = []
    let earliest = Number.POSITIVE_INFINITY
    for (const conn of this.live) {
      if (due(conn, now)) reauth.push(conn)
      if (!conn.stopped) earliest = Math.min(earliest, nextDue(conn))
    }
    return { reauth, earliest }
  }

  /** Runs until interrupted (with the node's connections). */
  run(sweepMs: number, runFork: (effect: Effect.Effect<void>) => void): Effect.Effect<never> {
    const once = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const { reauth, earliest } = this.sweep(now)
      const wake = Deferred.makeUnsafe<void>()
      this.wake = wake
      this.wakeAt = Math.max(earliest, now + sweepMs)
      // After the wake-up is set: a re-check that ends at once must find it to reschedule.
      if (reauth.length > 0) {
        runFork(Effect.forEach(reauth, reauthenticate, { concurrency: reauthConcurrency, discard: true }))
      }
      const sleep = this.wakeAt === Number.POSITIVE_INFINITY ? Effect.never : Effect.sleep(this.wakeAt - now)
      return Effect.raceFirst(sleep, Deferred.await(wake))
    })
    return Effect.forever(once)
  }
}
