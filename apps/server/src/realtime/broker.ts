import type { MessageView, RoomId, UserId } from "@parley/domain"
import { Context, Effect, Layer, type Scope } from "effect"
import type { Redis } from "effect/persistence"
import { noStack, type TraceContext, traceContextOf, tracingOn } from "../observability/spans.ts"

export type RoomChange = "archived" | "deleted"

/** A room event as it crosses nodes: plain JSON, already in wire shape. */
export type RoomEvent =
  /**
   * Stored messages, in `seq` order, published by the room's actor after the write; with the
   * publishing span when spans are exported, so deliveries on every node join the trace.
   */
  | {
      readonly kind: "messages"
      readonly messages: ReadonlyArray<typeof MessageView.Encoded>
      readonly trace?: TraceContext | undefined
    }
  /** One window's presence changes in a room, per user (see `presence.ts`), with the count after them. */
  | {
      readonly kind: "presence.diff"
      readonly joined: ReadonlyArray<{ user_id: UserId; username: string }>
      readonly left: ReadonlyArray<{ user_id: UserId; username: string }>
      readonly count: number
    }
  /** A room too big for per-user changes: only how many are online. */
  | { readonly kind: "presence.count"; readonly count: number }
  /** One window's typing changes in a room (see `typing.ts`). */
  | {
      readonly kind: "typing.changes"
      readonly started: ReadonlyArray<{ user_id: UserId; username: string }>
      readonly stopped: ReadonlyArray<{ user_id: UserId; username: string }>
    }
  /** The user left or was removed: their connections re-check what they may still do here. */
  | { readonly kind: "membership"; readonly user_id: UserId }
  /** An operator archived the room (read-only from now on) or deleted it. */
  | { readonly kind: "room"; readonly change: RoomChange }
  /** From the broker itself, never published: events may have been missed (a reconnect). */
  | { readonly kind: "resync" }

export type BrokerError = Redis.RedisError

/**
 * Room fan-out between nodes. A subscriber receives the events published to its room from
 * then on, by any node, in publish order per publisher. Delivery is at most once: a dropped
 * connection can lose events, which is why messages carry `seq` and the hub backfills gaps
 * from storage.
 */
export class Broker extends Context.Service<
  Broker,
  {
    /** Never waits long: at once in memory, within `REDIS_COMMAND_TIMEOUT` on Redis (then it fails). */
    readonly publish: (roomId: RoomId, event: RoomEvent) => Effect.Effect<void, BrokerError>
    /** Listens until the scope closes; resolves once the subscription is live. */
    readonly subscribe: (
      roomId: RoomId,
      onEvent: (event: RoomEvent) => void
    ) => Effect.Effect<void, BrokerError, Scope.Scope>
  }
>()("parley/server/realtime/Broker") {
  /** One node: publishing is a synchronous call into this process's listeners. */
  static readonly layerMemory = Layer.effect(
    Broker,
    Effect.gen(function* () {
      const listeners = new Map<RoomId, Set<(event: RoomEvent) => void>>()
      const publish = (roomId: RoomId, event: RoomEvent) =>
        Effect.sync(() => {
          for (const listener of listeners.get(roomId) ?? []) listener(event)
        })
      return Broker.of({
        publish: yield* tracedPublish(publish),
        subscribe: (roomId, onEvent) =>
          Effect.acquireRelease(
            Effect.sync(() => {
              const set = listeners.get(roomId) ?? new Set()
              set.add(onEvent)
              listeners.set(roomId, set)
            }),
            () =>
              Effect.sync(() => {
                const set = listeners.get(roomId)
                set?.delete(onEvent)
                if (set?.size === 0) listeners.delete(roomId)
              })
          )
      })
    })
  )
}

/**
 * `publish`, with a span per message publish when spans are exported, whose identity the
 * event carries to the hubs that deliver it (`hub.deliver`). Other events (presence, typing)
 * are not traced: they are not part of any request.
 */
export const tracedPublish = <E>(publish: (roomId: RoomId, event: RoomEvent) => Effect.Effect<void, E>) =>
  Effect.map(tracingOn, (traced) =>
    traced
      ? (roomId: RoomId, event: RoomEvent): Effect.Effect<void, E> =>
          event.kind !== "messages"
            ? publish(roomId, event)
            : Effect.useSpan(
                "broker.publish",
                { kind: "producer", attributes: { room_id: roomId, "room.messages": event.messages.length } },
                (span) =>
                  Effect.withParentSpan(publish(roomId, { ...event, trace: traceContextOf(span) }), span, noStack)
              )
      : publish
  )
