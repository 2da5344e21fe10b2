import { mkdtempSync, rmSync, statSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { UserView } from "@parley/domain"
import { afterEach, describe, expect, it } from "vitest"
import { AuthSession, SignedOutError } from "../src/chat/auth.ts"
import { ConfigStore } from "../src/chat/store.ts"
import { configDir } from "../src/shared/config-file.ts"
import { alice } from "./chat-fixtures.ts"

const user = {
  id: alice.user_id,
  username: "alice",
  email: "alice@example.com",
  role: "user",
  created_at: "2026-11-30T12:00:00.000Z",
  updated_at: "2026-11-30T12:00:00.000Z"
}
const tokens = (n: number) => ({
  token: `access-${n}`,
  refresh_token: `refresh-${n}`,
  token_type: "Bearer",
  expires_in: 900,
  session_id: "5d0f1b52-7c8e-4a53-9a3e-0c6f7a3a1b2c",
  user
})

/** A stand-in for the server's auth endpoints: rotates refresh tokens, counts calls. */
const fakeAuthServer = async () => {
  let current = 1
  const calls: Array<string> = []
  let refuseRefresh = false
  let meAccepts = "access-1"
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let body = ""
    for await (const chunk of req) body += chunk
    calls.push(`${req.method} ${req.url}`)
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" })
      res.end(JSON.stringify(value))
    }
    if (req.url === "/login") return json(200, tokens(current))
    if (req.url === "/api/refresh") {
      const sent = JSON.parse(body).refresh_token
      if (refuseRefresh || sent !== `refresh-${current}`) {
        return json(401, { error: { code: "invalid_refresh_token", message: "session revoked" } })
      }
      current++
      meAccepts = `access-${current}`
      return json(200, tokens(current))
    }
    if (req.url === "/api/me") {
      if (req.headers.authorization !== `Bearer ${meAccepts}`) {
        return json(401, { error: { code: "unauthorized", message: "expired" } })
      }
      return json(200, user)
    }
    json(404, { error: { code: "not_found", message: "no" } })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    refuse: () => {
      refuseRefresh = true
    },
    expireAccess: () => {
      meAccepts = "none"
    },
    rotateBehindOurBack: () => {
      current++
      meAccepts = `access-${current}`
    },
    close: () => new Promise((resolve) => server.close(resolve))
  }
}

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

const setup = async () => {
  const server = await fakeAuthServer()
  const env = { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), "parley-chat-auth-")) }
  const store = new ConfigStore(server.url, env)
  const auth = await AuthSession.login(server.url, store, { username: "alice", password: "password123" })
  cleanups.push(
    () => auth.close(),
    () => server.close(),
    () => rmSync(env.XDG_CONFIG_HOME, { recursive: true, force: true })
  )
  return { server, store, auth, env }
}

describe("chat auth session", () => {
  it("keeps the refresh token in chat.json, mode 0600, and rotates it on refresh", async () => {
    const { store, auth, env } = await setup()
    expect(store.account()?.refresh_token).toBe("refresh-1")
    expect(statSync(join(configDir(env), "chat.json")).mode & 0o777).toBe(0o600)
    expect(await auth.refresh()).toBe("access-2")
    expect(store.account()?.refresh_token).toBe("refresh-2")
  })

  it("never has two refreshes in flight: a replayed refresh token would revoke the session", async () => {
    const { server, auth } = await setup()
    const results = await Promise.all([auth.refresh(), auth.refresh(), auth.refresh()])
    expect(results).toEqual(["access-2", "access-2", "access-2"])
    expect(server.calls.filter((c) => c === "POST /api/refresh")).toHaveLength(1)
  })

  it("a call whose token refresh is refused fails as signed out", async () => {
    const { server, auth } = await setup()
    server.expireAccess()
    server.rotateBehindOurBack()
    // The server's refresh token moved on without us: the refresh is refused, so we are signed out.
    await expect(auth.call("/api/me")).rejects.toBeInstanceOf(SignedOutError)
  })

  it("a 401 on a call is answered by one refresh and the call succeeds with the new token", async () => {
    const { server, auth } = await setup()
    server.expireAccess()
    await expect(auth.call("/api/me", { schema: UserView })).resolves.toMatchObject({ username: "alice" })
    expect(server.calls).toEqual(["POST /login", "GET /api/me", "POST /api/refresh", "GET /api/me"])
  })

  it("a refused refresh ends the session: the token is forgotten and listeners hear it once", async () => {
    const { server, store, auth } = await setup()
    const heard: Array<SignedOutError> = []
    auth.onSignedOut((e) => heard.push(e))
    server.refuse()
    await expect(auth.refresh()).rejects.toBeInstanceOf(SignedOutError)
    await expect(auth.accessToken()).rejects.toBeInstanceOf(SignedOutError)
    expect(heard).toHaveLength(1)
    expect(store.account()?.refresh_token).toBeUndefined()
    // The next run finds no session and asks to sign in.
    expect(await AuthSession.resume(server.url, store)).toBeUndefined()
  })
})
