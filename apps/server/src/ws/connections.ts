import type { ReadMarker, RoomId, SessionId, UserId } from "@parley/domain"
import { Clock, Context, Effect, Layer } from "effect"
import { type Revocation, Revocations } from "../realtime/revocations.ts"

/** One open WebSocket, as the registry knows it. */
export interface OpenConnection {
  readonly userId: UserId
  readonly sessionId: SessionId
  /**
   * When the storage read that let it in began (epoch ms, this node's clock). A revocation
   * heard at or after that instant may have been missed by the read, so it ends this socket.
   */
  readonly authenticatedAt: number
  /** Closes the socket (4003); called at most once. */
  readonly revoke: () => void
  /** Forgets whether it may post in the room: the room, or the user's place in it, changed. */
  readonly postingChanged: (roomId: RoomId) => void
  /** The user's read marker moved; `origin` is the connection that moved it (null: over HTTP). */
  readonly readMarkerMoved: (marker: ReadMarker, origin: string | null) => void
}

/**
 * How long a revocation is remembered for sockets still being upgraded. An upgrade that
 * takes longer is caught by the periodic re-check.
 */
const rememberMs = 120_000

/**
 * This node's open WebSockets, by user and by session, so that a revocation (from any node,
 * through `Revocations`) closes the right ones at once. A socket whose authentication began
 * before a revocation it had not yet registered for is closed as soon as it registers, so
 * a revocation racing an upgrade cannot slip between the check and the registration.
 */
export class Connections extends Context.Service<
  Connections,
  {
    /** Registers a socket. Revokes it at once if it is already stale. */
    readonly add: (connection: OpenConnection) => Effect.Effect<void>
    /** Forgets a socket (it closed); nothing if it was not registered. */
    readonly remove: (connection: OpenConnection) => void
    /** Sockets open on this node now. */
    readonly count: Effect.Effect<number>
    /** This user's sockets open on this node now. */
    readonly countOf: (userId: UserId) => number
    /** Called (synchronously) whenever the count changes. */
    readonly onCountChange: (listener: () => void) => void
    /**
     * Whether this node heard, at or after `at` (epoch ms), that the user's place in a room
     * changed or that a room was archived or deleted: a room's access read before then may be
     * stale. Remembered as long as revocations are.
     */
    readonly roomsChangedSince: (userId: UserId, at: number) => boolean
  }
>()("parley/server/ws/Connections") {
  static readonly layer = Layer.effect(
    Connections,
    Effect.gen(function* () {
      const revocations = yield* Revocations
      const clock = yield* Clock.Clock
      const all = new Set<OpenConnection>()
      const bySession = new Map<SessionId, Set<OpenConnection>>()
      const byUser = new Map<UserId, Set<OpenConnection>>()
      /** Recently heard revocations: session or user id → when this node heard it. */
      const heard = new Map<string, number>()
      /** Recently heard membership changes: user id → when; and the last room archived or deleted. */
      const roomNews = new Map<UserId, number>()
      let lastRoomChange = Number.NEGATIVE_INFINITY
      const countListeners = new Set<() => void>()

      const index = <K>(map: Map<K, Set<OpenConnection>>, key: K, connection: OpenConnection) => {
        const set = map.get(key) ?? new Set()
        set.add(connection)
        map.set(key, set)
      }
      const unindex = <K>(map: Map<K, Set<OpenConnection>>, key: K, connection: OpenConnection) => {
        const set = map.get(key)
        set?.delete(connection)
        if (set?.size === 0) map.delete(key)
      }
      const countChanged = () => {
        for (const listener of countListeners) listener()
      }

      const forget = (now: number) => {
        // Insertion order is time order: stop at the first entry still worth keeping.
        for (const [key, at] of heard) {
          if (at > now - rememberMs) break
          heard.delete(key)
        }
        for (const [key, at] of roomNews) {
          if (at > now - rememberMs) break
          roomNews.delete(key)
        }
      }

      const revoke = (revocation: Revocation) => {
        if (revocation.kind === "read_marker") {
          for (const connection of byUser.get(revocation.user_id) ?? []) {
            connection.readMarkerMoved(revocation.marker, revocation.origin)
          }
          return
        }
        if (revocation.kind === "room" || revocation.kind === "membership") {
          const now = clock.currentTimeMillisUnsafe()
          forget(now)
          if (revocation.kind === "room") lastRoomChange = now
          else {
            roomNews.delete(revocation.user_id)
            roomNews.set(revocation.user_id, now)
          }
          const targets = revocation.kind === "room" ? all : (byUser.get(revocation.user_id) ?? [])
          for (const connection of targets) connection.postingChanged(revocation.room_id)
          return
        }
        const now = clock.currentTimeMillisUnsafe()
        forget(now)
        const key = revocation.kind === "session" ? revocation.session_id : revocation.user_id
        heard.delete(key)
        heard.set(key, now)
        const targets =
          revocation.kind === "session" ? bySession.get(revocation.session_id) : byUser.get(revocation.user_id)
        for (const connection of [...(targets ?? [])]) connection.revoke()
      }
      yield* revocations.listen(revoke)

      const stale = (connection: OpenConnection) => {
        const at = Math.max(heard.get(connection.sessionId) ?? -1, heard.get(connection.userId) ?? -1)
        return at >= connection.authenticatedAt
      }

      return Connections.of({
        add: (connection) =>
          Effect.sync(() => {
            all.add(connection)
            index(bySession, connection.sessionId, connection)
            index(byUser, connection.userId, connection)
            countChanged()
            if (stale(connection)) connection.revoke()
          }),
        remove: (connection) => {
          if (!all.delete(connection)) return
          unindex(bySession, connection.sessionId, connection)
          unindex(byUser, connection.userId, connection)
          countChanged()
        },
        count: Effect.sync(() => all.size),
        countOf: (userId) => byUser.get(userId)?.size ?? 0,
        onCountChange: (listener) => {
          countListeners.add(listener)
        },
        roomsChangedSince: (userId, at) => lastRoomChange >= at || (roomNews.get(userId) ?? -1) >= at
      })
    })
  )
}
