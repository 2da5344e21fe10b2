import { ReadMarker, RoomId, SessionId, UserId } from "@parley/domain"
import { Context, Effect, Layer, Schema, type Scope } from "effect"

/**
 * What just ended: one session, or every session of a user (logged out everywhere, disabled);
 * or the right to post in a room: for everyone (the room was archived or deleted), or for one
 * user (left or removed). Sockets remember "may post here" for a while, whether or not they
 * subscribe to the room, so this news must reach every node, not only the room's subscribers.
 * The same channel carries the one piece of per-user news that is not a revocation: a user's
 * read marker moved (`origin`: the connection that moved it, which is answered by its ack).
 */
export const Revocation = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("session"), session_id: SessionId }),
  Schema.Struct({ kind: Schema.Literal("user"), user_id: UserId }),
  Schema.Struct({ kind: Schema.Literal("room"), room_id: RoomId }),
  Schema.Struct({ kind: Schema.Literal("membership"), room_id: RoomId, user_id: UserId }),
  Schema.Struct({
    kind: Schema.Literal("read_marker"),
    user_id: UserId,
    origin: Schema.NullOr(Schema.String),
    marker: ReadMarker
  })
])
export type Revocation = typeof Revocation.Type

/**
 * Node-wide news that sessions ended, so every node closes the sockets they opened at once
 * instead of at its next periodic re-check, and that posting rights changed, so every socket
 * forgets what it remembered about them. Published only after storage says the session
 * is revoked (or the user disabled), so a node that hears it and then re-reads storage sees
 * the revocation. Delivery is at most once: a node that misses one (Redis down) still closes
 * those sockets at the next periodic re-check.
 */
export class Revocations extends Context.Service<
  Revocations,
  {
    /** Tells every node; this node's listeners have heard it when `publish` returns. Never fails. */
    readonly publish: (revocation: Revocation) => Effect.Effect<void>
    /** Calls `onRevocation` for every revocation heard, from any node, until the scope closes. */
    readonly listen: (onRevocation: (revocation: Revocation) => void) => Effect.Effect<void, never, Scope.Scope>
  }
>()("parley/server/realtime/Revocations") {
  /** One node: a synchronous call into this process's listeners. */
  static readonly layerMemory = Layer.sync(Revocations, () => {
    const listeners = localListeners()
    return Revocations.of({ publish: (r) => Effect.sync(() => listeners.deliver(r)), listen: listeners.listen })
  })
}

/** This process's listeners; shared by the memory and Redis versions. */
export const localListeners = () => {
  const listeners = new Set<(revocation: Revocation) => void>()
  return {
    deliver: (revocation: Revocation) => {
      for (const listener of listeners) listener(revocation)
    },
    listen: (onRevocation: (revocation: Revocation) => void) =>
      Effect.acquireRelease(
        Effect.sync(() => listeners.add(onRevocation)),
        () => Effect.sync(() => listeners.delete(onRevocation))
      ).pipe(Effect.asVoid)
  }
}
