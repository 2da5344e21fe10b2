/**
 * One connection in process, on a fake socket: the real connection code (state, handlers,
 * inbound queue, timers), the real hub and memory broker, SQLite in memory, and stubs for
 * what a test does not exercise. Time is whatever clock the test runs on (the TestClock
 * under `it.effect`).
 */
import type { SessionId, UserId, UserView } from "@parley/domain"
import { type Messages, SqliteStorage } from "@parley/storage"
import { Clock, Duration, Effect, Layer } from "effect"
import type { Accounts, Caller } from "../../src/auth/accounts.ts"
import { Accounts as AccountsService } from "../../src/auth/accounts.ts"
import { RoomRouter } from "../../src/chat/room-router.ts"
import { ChatRooms } from "../../src/chat/rooms.ts"
import { ChatSearch } from "../../src/chat/search.ts"
import { RateLimits } from "../../src/ratelimit/limits.ts"
import { Broker } from "../../src/realtime/broker.ts"
import { RoomHub } from "../../src/realtime/hub.ts"
import { Presence } from "../../src/realtime/presence.ts"
import { Revocations } from "../../src/realtime/revocations.ts"
import { Typing } from "../../src/realtime/typing.ts"
import { type Accepted, makeConnectionEnv, openConnection } from "../../src/ws/connection.ts"
import { Connections } from "../../src/ws/connections.ts"
import { receive } from "../../src/ws/handlers/dispatch.ts"
import type { ConnectionOptions, ConnectionState, WsSocket } from "../../src/ws/state.ts"

export const testOptions: ConnectionOptions = {
  maxBufferedBytes: 1 << 20,
  postCheckTtlMs: 10_000,
  sendDeadlineMs: 1500,
  pingIntervalMs: 30_000,
  reauthIntervalMs: 60_000,
  closeGraceMs: 2000,
  sweepMs: 1000,
  inbound: { frames: 256, reserve: 16 },
  maxSubscriptions: 500,
  subscribeRate: 100,
  subscribeWindowMs: 10_000
}

/** A client frame arriving now (the test's clock) and answered: what `onFrame` queues, run in place. */
export const arrive = (conn: ConnectionState, frame: string | null) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => receive(conn, frame, now))

/** A socket that is open until closed, and records what the server did to it. */
export interface FakeSocket extends WsSocket {
  readyState: number
  bufferedAmount: number
  /** Every frame sent, parsed. */
  readonly frames: Array<any>
  pings: number
  closedWith: { readonly code: number; readonly reason: string } | null
  terminated: boolean
}

export const fakeSocket = (): FakeSocket => ({
  readyState: 1,
  bufferedAmount: 0,
  frames: [],
  pings: 0,
  closedWith: null,
  terminated: false,
  send(data) {
    this.frames.push(JSON.parse(data.toString()))
  },
  ping() {
    this.pings++
  },
  close(code, reason) {
    this.closedWith = { code, reason }
    this.readyState = 2
  },
  terminate() {
    this.terminated = true
    this.readyState = 3
  }
})

export const ada: Caller = {
  userId: "00000000-0000-4000-8000-0000000000ad" as UserId,
  sessionId: "00000000-0000-4000-8000-00000000005e" as SessionId,
  username: "ada",
  role: "user",
  user: { id: "00000000-0000-4000-8000-0000000000ad", username: "ada" } as UserView
}

/** Stubs for the services a test leaves alone; pass real ones (or other stubs) to override. */
export const stubs = (overrides: {
  readonly accounts?: Partial<Accounts["Service"]>
  readonly rooms?: Partial<ChatRooms["Service"]>
}) =>
  Layer.mergeAll(
    Layer.succeed(AccountsService, {
      authenticateSession: () => Effect.succeed(ada),
      ...overrides.accounts
    } as unknown as Accounts["Service"]),
    Layer.succeed(ChatRooms, {
      access: () => Effect.succeed({}),
      postable: () => Effect.succeed({}),
      ...overrides.rooms
    } as unknown as ChatRooms["Service"]),
    Layer.succeed(RoomRouter, {
      submit: () => Effect.die("not used"),
      submitWith: () => Effect.die("not used")
    } as unknown as RoomRouter["Service"]),
    Layer.succeed(ChatSearch, { search: () => Effect.die("not used") }),
    Layer.succeed(RateLimits, { message: () => Effect.void } as unknown as RateLimits["Service"]),
    Presence.layerMemory({ window: Duration.millis(200), pageSize: 100, diffLimit: 500 }),
    Typing.layer({ window: Duration.millis(200), interval: Duration.seconds(2) })
  )

/** The world a connection lives in; `storage` defaults to SQLite in memory. */
export const world = (
  services: Layer.Layer<
    AccountsService | ChatRooms | ChatSearch | RoomRouter | RateLimits | Presence | Typing,
    unknown,
    Broker
  >,
  storage: Layer.Layer<Messages, unknown> = SqliteStorage.layer(":memory:")
) =>
  Layer.mergeAll(RoomHub.layer({ broadcastWindow: Duration.zero }), services, Connections.layer).pipe(
    Layer.provideMerge(Layer.mergeAll(Broker.layerMemory, Revocations.layerMemory)),
    Layer.provideMerge(storage)
  )

/** Opens a connection for Ada on a fake socket; `expiresAt` defaults to far away. */
export const open = (socket: WsSocket, accepted: Partial<Accepted> = {}, options: ConnectionOptions = testOptions) =>
  Effect.gen(function* () {
    const env = yield* makeConnectionEnv(options)
    return yield* openConnection(env, socket, {
      caller: ada,
      authenticatedAt: 0,
      expiresAt: Number.MAX_SAFE_INTEGER,
      roomId: null,
      ...accepted
    })
  })
