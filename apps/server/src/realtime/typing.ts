/**
 * Who is typing, throttled per user and coalesced per room.
 *
 * - One throttle for start and stop: a user's typing state in a room goes out at most once
 *   per `interval`, whichever way it changed. A change inside the interval is not lost: the
 *   latest state goes out when the interval ends, if it differs from what went out. So a
 *   client flipping start/stop a hundred times in a second costs the room one frame, plus
 *   one at the end if it finished in the other state; a stop is never lost, and no
 *   indicator sticks.
 * - A `start` while already shown as typing goes out again once the interval has passed: a
 *   refresh for clients that expire indicators nobody repeats.
 * - Changes are collected per room for `window` and published as one `typing.changes`.
 * - The connection the user typed from last leaving the room (unsubscribe, disconnect) while
 *   shown as typing ends it at the next window, past the throttle. Another of the user's
 *   connections leaving does not: that tab may have stopped typing long ago, this one has not.
 *
 * Who may type (members only) is the caller's check; this service only shapes the traffic.
 * State is per node: the same user typing through two nodes is throttled on each.
 */
import type { RoomId, UserId } from "@parley/domain"
import { Clock, Context, Duration, Effect, FiberSet, Layer } from "effect"
import { Broker } from "./broker.ts"
import { makeCoalescer } from "./coalescer.ts"
import type { OnlineUser } from "./presence-store.ts"

export interface TypingOptions {
  /** Typing changes in a room go out at most once per window. */
  readonly window: Duration.Duration
  /** One typing change per user and room per interval, start or stop alike. */
  readonly interval: Duration.Duration
}

interface Typist {
  readonly user: OnlineUser
  /** The connection the latest start or stop came from: its leaving ends the typing. */
  by: string
  /** The state that last went out, and when (ms). */
  sent: boolean
  at: number
  /** The state the user asked for last. */
  want: boolean
  /** A fiber is waiting for the interval to end. */
  timer: boolean
}

interface TypingChange {
  readonly user: OnlineUser
  readonly typing: boolean
}

export class Typing extends Context.Service<
  Typing,
  {
    /** `typing.start` (true) or `typing.stop` (false) from `user` in `roomId`, through connection `connId`. */
    readonly set: (roomId: RoomId, user: OnlineUser, typing: boolean, connId: string) => Effect.Effect<void>
    /** Connection `connId` of the user left the room: if it typed last and they show as typing, they stop. */
    readonly leave: (roomId: RoomId, userId: UserId, connId: string) => Effect.Effect<void>
  }
>()("parley/server/realtime/Typing") {
  static readonly layer = (options: TypingOptions) =>
    Layer.effect(
      Typing,
      Effect.gen(function* () {
        const broker = yield* Broker
        const run = yield* FiberSet.makeRuntime()
        const intervalMs = Duration.toMillis(options.interval)
        const typists = new Map<string, Typist>()
        const keyOf = (roomId: RoomId, userId: UserId) => `${roomId} ${userId}`

        const coalescer = yield* makeCoalescer({
          window: options.window,
          flush: (roomId: RoomId, changes: ReadonlyArray<TypingChange>) => {
            // The last word of each user in the window.
            const last = new Map<UserId, TypingChange>()
            for (const change of changes) last.set(change.user.user_id, change)
            const started: Array<OnlineUser> = []
            const stopped: Array<OnlineUser> = []
            for (const { user, typing } of last.values()) (typing ? started : stopped).push(user)
            return broker
              .publish(roomId, { kind: "typing.changes", started, stopped })
              .pipe(Effect.catchCause((cause) => Effect.logWarning("typing broadcast failed", cause)))
          }
        })

        const publish = (roomId: RoomId, typist: Typist, now: number) => {
          typist.sent = typist.want
          typist.at = now
          coalescer.add(roomId, { user: typist.user, typing: typist.want })
        }

        /** Waits out the interval, then sends the state the user ended in if it did not go out. */
        const untilQuiet = (roomId: RoomId, key: string, typist: Typist): Effect.Effect<void> =>
          Effect.gen(function* () {
            for (;;) {
              const wait = typist.at + intervalMs - (yield* Clock.currentTimeMillis)
              if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
              if (typists.get(key) !== typist) return
              if (typist.want !== typist.sent) {
                publish(roomId, typist, yield* Clock.currentTimeMillis)
                continue
              }
              if (!typist.sent) typists.delete(key)
              return
            }
          }).pipe(
            Effect.ensuring(
              Effect.sync(() => {
                typist.timer = false
              })
            )
          )

        return Typing.of({
          set: (roomId, user, typing, connId) =>
            Effect.gen(function* () {
              const now = yield* Clock.currentTimeMillis
              const key = keyOf(roomId, user.user_id)
              let typist = typists.get(key)
              if (typist === undefined) {
                if (!typing) return // a stop from someone not shown as typing changes nothing
                typist = { user, by: connId, sent: false, at: Number.NEGATIVE_INFINITY, want: true, timer: false }
                typists.set(key, typist)
              }
              typist.by = connId
              typist.want = typing
              // Inside the interval the timer (started by the last send) sends the final state.
              if (now - typist.at < intervalMs) return
              if (!typing && !typist.sent) return
              publish(roomId, typist, now)
              if (!typist.timer) {
                typist.timer = true
                run(untilQuiet(roomId, key, typist))
              }
            }),
          leave: (roomId, userId, connId) =>
            Effect.sync(() => {
              const key = keyOf(roomId, userId)
              const typist = typists.get(key)
              if (typist === undefined || typist.by !== connId) return
              typists.delete(key)
              if (typist.sent) coalescer.add(roomId, { user: typist.user, typing: false })
            })
        })
      })
    )
}
