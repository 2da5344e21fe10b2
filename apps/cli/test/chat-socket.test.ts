import type { IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import type { ServerEvent } from "@parley/domain"
import { afterEach, describe, expect, it } from "vitest"
import { type WebSocket, WebSocketServer } from "ws"
import { SignedOutError } from "../src/chat/auth.ts"
import { type Backoff, backoffDelay } from "../src/chat/backoff.ts"
import { type ChatConnection, openChatSocket } from "../src/chat/socket.ts"
import { ApiError } from "../src/shared/http.ts"
import { bob, makeMessage, makeRoom, settle } from "./chat-fixtures.ts"

/** A WebSocket server in this process that accepts one bearer token at a time. */
const fakeServer = async () => {
  let accepted = "t1"
  const sockets: Array<WebSocket> = []
  const tokens: Array<string> = []
  const wss = new WebSocketServer({
    port: 0,
    host: "127.0.0.1",
    verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, code?: number) => void) => {
      const token = (info.req.headers.authorization ?? "").replace(/^Bearer /, "")
      tokens.push(token)
      done(token === accepted, 401)
    }
  })
  wss.on("connection", (ws) => sockets.push(ws))
  await new Promise((resolve) => wss.once("listening", resolve))
  const port = (wss.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    sockets,
    tokens,
    accept: (token: string) => {
      accepted = token
    },
    close: () => new Promise((resolve) => wss.close(resolve))
  }
}

const recorder = () => {
  const log = { opens: 0, downs: [] as Array<string>, events: [] as Array<ServerEvent>, signedOut: 0 }
  return {
    log,
    handlers: {
      onOpen: () => void log.opens++,
      onEvent: (e: ServerEvent) => void log.events.push(e),
      onDown: (reason: string) => void log.downs.push(reason),
      onSignedOut: (_: SignedOutError) => void log.signedOut++
    }
  }
}

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const setup = async (
  options: { refresh?: () => Promise<string>; accessToken?: () => Promise<string>; backoff?: Backoff } = {}
) => {
  const server = await fakeServer()
  let token = "t1"
  let refreshes = 0
  // Every connection attempt starts by asking for an access token.
  let attempts = 0
  const { log, handlers } = recorder()
  const connection: ChatConnection = openChatSocket(
    server.url,
    {
      accessToken: () => {
        attempts++
        return attempts > 1 && options.accessToken !== undefined ? options.accessToken() : Promise.resolve(token)
      },
      refresh:
        options.refresh ??
        (async () => {
          refreshes++
          token = `t${refreshes + 1}`
          return token
        })
    },
    handlers,
    { backoff: options.backoff ?? { baseMs: 1, capMs: 4 } }
  )
  cleanups.push(
    () => server.close(),
    () => connection.close()
  )
  await settle(() => log.opens === 1, 100_000)
  return { server, log, connection, refreshes: () => refreshes, attempts: () => attempts }
}

describe("chat socket", () => {
  it("decodes server frames with the domain schema and skips what it does not understand", async () => {
    const { server, log } = await setup()
    const room = makeRoom("general")
    server.sockets[0]!.send("not json")
    server.sockets[0]!.send(JSON.stringify({ type: "future.event", payload: {} }))
    server.sockets[0]!.send(JSON.stringify({ type: "chat.message", payload: makeMessage(room, 1, bob, "hi") }))
    await settle(() => log.events.length === 1, 100_000)
    expect(log.events[0]).toMatchObject({ type: "chat.message", payload: { text: "hi", seq: 1 } })
  })

  it("reconnects after a dropped connection", async () => {
    const { server, log } = await setup()
    server.sockets[0]!.terminate()
    await settle(() => log.opens === 2, 100_000)
    expect(log.downs).toEqual(["connection lost"])
    expect(server.sockets).toHaveLength(2)
  })

  it("refreshes the token and reconnects on close 4001", async () => {
    const { server, log, refreshes } = await setup()
    server.accept("t2")
    server.sockets[0]!.close(4001, "token expired")
    await settle(() => log.opens === 2, 100_000)
    expect(refreshes()).toBe(1)
    expect(server.tokens).toEqual(["t1", "t2"])
  })

  it("refreshes the token and reconnects when the upgrade answers 401", async () => {
    const { server, log, refreshes } = await setup()
    server.accept("t2")
    server.sockets[0]!.terminate()
    await settle(() => log.opens === 2, 100_000)
    expect(refreshes()).toBe(1)
    expect(server.tokens).toEqual(["t1", "t1", "t2"])
  })

  it("stops for good on close 4003: signed out, no reconnect", async () => {
    // No backoff: a reconnect would be a timer due at once, queued before the test's own.
    const { server, log, attempts } = await setup({ backoff: { baseMs: 0, capMs: 0 } })
    server.sockets[0]!.close(4003, "session revoked")
    await settle(() => log.signedOut === 1, 100_000)
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(attempts()).toBe(1)
    expect(log.downs).toEqual([])
    expect(server.tokens).toEqual(["t1"])
  })

  it("a reconnect refused with the server's own message reports it made safe", async () => {
    const { server, log } = await setup({
      accessToken: async () => {
        throw new ApiError(503, "service_unavailable", "busy\x1b[2J\u202e")
      }
    })
    server.sockets[0]!.terminate()
    await settle(() => log.downs.length === 2, 100_000)
    expect(log.downs[1]).toBe("busy\\x1b[2J\\u202e")
  })

  it("signs out when the token cannot be refreshed", async () => {
    const { server, log } = await setup({
      refresh: async () => {
        throw new SignedOutError()
      }
    })
    server.accept("nothing")
    server.sockets[0]!.close(4001, "token expired")
    await settle(() => log.signedOut === 1, 100_000)
    expect(log.opens).toBe(1)
  })

  it("backs off exponentially with jitter, capped", () => {
    const backoff = { baseMs: 500, capMs: 10_000 }
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, backoff, () => 1))).toEqual([500, 1000, 2000, 4000, 10_000])
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, backoff, () => 0))).toEqual([250, 500, 1000, 2000, 5000])
  })
})
