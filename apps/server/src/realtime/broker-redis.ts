import type { RoomId } from "@parley/domain"
import { Cause, Effect, Layer, Redacted } from "effect"
import { Redis } from "effect/persistence"
import { Redis as IORedis } from "ioredis"
import { RedisConfig } from "../redis/client.ts"
import { Broker, type RoomEvent, tracedPublish } from "./broker.ts"

const channel = (roomId: RoomId) => `parley:room:${roomId}`

/**
 * Redis pub/sub: one PUBLISH per event on the shared connection, one subscriber connection
 * per node holding a SUBSCRIBE for each room that has local listeners. Redis delivers a
 * channel's messages in the order one connection published them, so one room actor's
 * events arrive everywhere in `seq` order. Both are bounded like every Redis command
 * (`REDIS_COMMAND_TIMEOUT`): a stalled Redis fails a publish or a subscribe, it never holds it.
 */
export const layerRedis = (url: Redacted.Redacted<string>) =>
  Layer.effect(
    Broker,
    Effect.gen(function* () {
      const redis = yield* Redis.Redis
      const { commandTimeout } = yield* RedisConfig
      const subscriber = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const client = new IORedis(Redacted.value(url), { lazyConnect: true, maxRetriesPerRequest: 1 })
            client.on("error", () => {}) // reconnects on its own; gaps are backfilled by seq
            await client.connect()
            return client
          },
          catch: (cause) => new Redis.RedisError({ cause })
        }),
        (client) => Effect.sync(() => client.disconnect())
      )
      /** Per channel: its listeners, and the SUBSCRIBE every later listener must also wait for. */
      const channels = new Map<string, { listeners: Set<(event: RoomEvent) => void>; live: Promise<unknown> }>()
      subscriber.on("message", (name: string, message: string) => {
        const entry = channels.get(name)
        if (entry === undefined) return
        const event = JSON.parse(message) as RoomEvent
        for (const listener of entry.listeners) listener(event)
      })
      // ioredis re-subscribes after a reconnect, but whatever was published meanwhile is gone:
      // every listener is told, so that a quiet room catches up without waiting for its next message.
      subscriber.on("ready", () => {
        for (const entry of channels.values()) for (const listener of entry.listeners) listener({ kind: "resync" })
      })

      // One synchronous step: the UNSUBSCRIBE is queued on the connection before any later
      // SUBSCRIBE for the same channel, so a quick re-join is never left deaf.
      const remove = (name: string, onEvent: (event: RoomEvent) => void) =>
        Effect.sync(() => {
          const entry = channels.get(name)
          entry?.listeners.delete(onEvent)
          if (entry === undefined || entry.listeners.size > 0) return
          channels.delete(name)
          subscriber.unsubscribe(name).catch(() => 0)
        })

      return Broker.of({
        publish: yield* tracedPublish((roomId, event) =>
          redis.send("PUBLISH", channel(roomId), JSON.stringify(event)).pipe(Effect.asVoid)
        ),
        subscribe: (roomId, onEvent) => {
          const name = channel(roomId)
          const add = Effect.suspend(() => {
            let entry = channels.get(name)
            if (entry === undefined) {
              entry = { listeners: new Set(), live: subscriber.subscribe(name) }
              channels.set(name, entry)
            }
            entry.listeners.add(onEvent)
            const { live } = entry
            return Effect.tryPromise({ try: () => live, catch: (cause) => new Redis.RedisError({ cause }) }).pipe(
              Effect.timeoutOrElse({
                duration: commandTimeout,
                orElse: () =>
                  Effect.fail(
                    new Redis.RedisError({ cause: new Cause.TimeoutError("Redis did not confirm SUBSCRIBE") })
                  )
              })
            )
          })
          return Effect.acquireRelease(add.pipe(Effect.tapError(() => remove(name, onEvent))), () =>
            remove(name, onEvent)
          ).pipe(Effect.asVoid)
        }
      })
    })
  )
