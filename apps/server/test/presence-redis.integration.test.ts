/**
 * Presence on the real Redis: the store contract, then two or three "nodes" (each its own
 * Presence over the same Redis, publishing into one shared broker as Redis would carry
 * it): a user with tabs on two nodes is online once and leaves once; a node that dies
 * without a word has its users announced as left by a survivor; a connection Redis lost
 * while it was alive comes back. Waits are on published events, bounded only to fail.
 */
import { assert, describe, it } from "@effect/vitest"
import type { RoomId, UserId } from "@parley/domain"
import { Context, Duration, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { Redis } from "effect/persistence"
import { Broker, type RoomEvent } from "../src/realtime/broker.ts"
import { Presence } from "../src/realtime/presence.ts"
import { layerRedis } from "../src/realtime/presence-redis.ts"
import { redisStore } from "../src/realtime/presence-store-redis.ts"
import * as RedisClient from "../src/redis/client.ts"
import { presenceStoreContract } from "./presence-store.suite.ts"

const redisUrl = process.env.REDIS_URL
if (!redisUrl) throw new Error("REDIS_URL must be set: run the suite through `npm test`")
const redis = RedisClient.layer(Redacted.make(redisUrl))

presenceStoreContract(
  "redis",
  redis,
  Effect.map(Redis.Redis, (r) => redisStore(r, Duration.seconds(30)))
)

const window = Duration.millis(50)

/** Polls `read` until `done` holds; the bound is only there to fail a broken build. */
const until = <A>(read: () => A, done: (a: A) => boolean, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1000; i++) {
      const value = read()
      if (done(value)) return value
      yield* Effect.sleep(Duration.millis(10))
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

/** A node: its own Presence (own local connections, own heartbeat) over the shared Redis and broker. */
const startNode = (shared: Context.Context<Broker | Redis.Redis>, ttl: Duration.Duration) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const context = yield* Layer.buildWithScope(
      layerRedis({ window, pageSize: 100, diffLimit: 1000, ttl }).pipe(Layer.provide(Layer.succeedContext(shared))),
      scope
    )
    return { presence: Context.get(context, Presence), crash: Scope.close(scope, Exit.void) }
  })

const world = Layer.merge(Broker.layerMemory, redis)

describe("presence across nodes (Redis)", () => {
  const setup = Effect.gen(function* () {
    const shared = yield* Effect.context<Broker | Redis.Redis>()
    const broker = Context.get(shared, Broker)
    const roomId = crypto.randomUUID() as RoomId
    const published: Array<RoomEvent> = []
    yield* broker.subscribe(roomId, (event) => void published.push(event))
    const user = (username: string) => ({ userId: crypto.randomUUID() as UserId, username })
    return { shared, roomId, published, user }
  })

  it.live("a user with tabs on two nodes is online once; leaving both sends one left", () =>
    Effect.gen(function* () {
      const { shared, roomId, published, user } = yield* setup
      const a = yield* startNode(shared, Duration.seconds(30))
      const b = yield* startNode(shared, Duration.seconds(30))
      const ada = user("ada")
      const adaView = { user_id: ada.userId, username: "ada" }
      yield* a.presence.join(roomId, { connId: "ada-on-a", ...ada })
      yield* until(
        () => published,
        (p) => p.length === 1,
        "ada's join"
      )
      yield* b.presence.join(roomId, { connId: "ada-on-b", ...ada })
      // Both pages agree: one ada, count 1, whichever node is asked.
      assert.deepStrictEqual(yield* b.presence.page(roomId), { online: [adaView], count: 1 })
      yield* a.presence.leave(roomId, "ada-on-a")
      assert.deepStrictEqual(yield* a.presence.page(roomId), { online: [adaView], count: 1 })
      yield* b.presence.leave(roomId, "ada-on-b")
      yield* until(
        () => published,
        (p) => p.length === 2,
        "ada's leave"
      )
      // Several windows later, still exactly those two events.
      yield* Effect.sleep(Duration.times(window, 4))
      assert.deepStrictEqual(published, [
        { kind: "presence.diff", joined: [adaView], left: [], count: 1 },
        { kind: "presence.diff", joined: [], left: [adaView], count: 0 }
      ])
    }).pipe(Effect.provide(world))
  )

  it.live("a node that dies without a word: its users are announced as left by a node still in the room", () =>
    Effect.gen(function* () {
      const { shared, roomId, published, user } = yield* setup
      const ttl = Duration.millis(600)
      const survivor = yield* startNode(shared, ttl)
      const doomed = yield* startNode(shared, ttl)
      const [ada, bob] = [user("ada"), user("bob")]
      yield* survivor.presence.join(roomId, { connId: "ada-1", ...ada })
      yield* doomed.presence.join(roomId, { connId: "bob-1", ...bob })
      yield* until(
        () => published,
        (p) => p.some((e) => e.kind === "presence.diff" && e.count === 2),
        "both online"
      )
      yield* doomed.crash
      const left = yield* until(
        () => published.filter((e) => e.kind === "presence.diff" && e.left.length > 0),
        (found) => found.length > 0,
        "bob's expiry"
      )
      assert.deepStrictEqual(left, [
        { kind: "presence.diff", joined: [], left: [{ user_id: bob.userId, username: "bob" }], count: 1 }
      ])
      // Ada, renewed by the survivor all along, never left.
      assert.deepStrictEqual((yield* survivor.presence.page(roomId)).online, [{ user_id: ada.userId, username: "ada" }])
    }).pipe(Effect.provide(world))
  )

  it.live("a live connection Redis lost (swept during a long pause) is joined again by the next renewal", () =>
    Effect.gen(function* () {
      const { shared, roomId, published, user } = yield* setup
      const node = yield* startNode(shared, Duration.millis(600))
      const cyd = user("cyd")
      yield* node.presence.join(roomId, { connId: "cyd-1", ...cyd })
      yield* until(
        () => published,
        (p) => p.length === 1,
        "cyd's join"
      )
      // What a sweep by another node would have done to it.
      const raw = Context.get(shared, Redis.Redis)
      const store = redisStore(raw, Duration.millis(600))
      yield* store.leave(roomId, "cyd-1")
      assert.strictEqual((yield* node.presence.page(roomId)).count, 0)
      yield* until(
        () => published,
        (p) => p.some((e, i) => i > 0 && e.kind === "presence.diff" && e.joined.length === 1),
        "cyd back"
      )
      assert.strictEqual((yield* node.presence.page(roomId)).count, 1)
    }).pipe(Effect.provide(world))
  )
})
