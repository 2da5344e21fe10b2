import { mkdtempSync, rmSync, statSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { UserView } from "@parley/domain"
import { afterEach, describe, expect, it } from "vitest"
import { AuthSession, SignedOutError } from "../src/chat/auth.ts"
import { ConfigStore, configFileName } from "../src/chat/store.ts"
import { configDir, readConfigFile, writeConfigFile } from "../src/shared/config-file.ts"
import { withFileLock } from "../src/shared/file-lock.ts"
import { alice, settle } from "./chat-fixtures.ts"

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

/**
 * A stand-in for the server's auth endpoints, with its rules: refresh tokens rotate, a
 * replayed (rotated) one ends the session, a logged-out session refuses everything.
 */
const fakeAuthServer = async () => {
  let current = 1
  const calls: Array<string> = []
  let revoked = false
  let meAccepts = "access-1"
  let failLogout = false
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let body = ""
    for await (const chunk of req) body += chunk
    calls.push(`${req.method} ${req.url}`)
    const json = (status: number, value?: unknown) => {
      res.writeHead(status, value === undefined ? {} : { "content-type": "application/json" })
      res.end(value === undefined ? undefined : JSON.stringify(value))
    }
    const bearerOk = !revoked && req.headers.authorization === `Bearer ${meAccepts}`
    if (req.url === "/login") return json(200, tokens(current))
    if (req.url === "/api/refresh") {
      const sent = JSON.parse(body).refresh_token
      // A replayed token is read as stolen: the whole session ends.
      if (sent !== `refresh-${current}`) revoked = true
      if (revoked) return json(401, { error: { code: "invalid_refresh_token", message: "session revoked" } })
      current++
      meAccepts = `access-${current}`
      return json(200, tokens(current))
    }
    if (req.url === "/api/me") {
      if (!bearerOk) return json(401, { error: { code: "unauthorized", message: "expired" } })
      return json(200, user)
    }
    if (req.url === "/api/logout") {
      if (failLogout) return json(503, { error: { code: "service_unavailable", message: "try later" } })
      if (!bearerOk) return json(401, { error: { code: "unauthorized", message: "expired" } })
      if (JSON.parse(body).refresh_token !== `refresh-${current}`) {
        return json(401, { error: { code: "invalid_refresh_token", message: "the refresh token is invalid" } })
      }
      revoked = true
      return json(204)
    }
    json(404, { error: { code: "not_found", message: "no" } })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    /** The session is over on the server (revoked, or ended by a replay). */
    ended: () => revoked,
    refuse: () => {
      revoked = true
    },
    expireAccess: () => {
      meAccepts = "none"
    },
    failLogout: () => {
      failLogout = true
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

/** Another `parley` window of the same user: its own process state, the same chat.json. */
const secondWindow = async (server: { url: string }, env: NodeJS.ProcessEnv) => {
  const auth = await AuthSession.resume(server.url, new ConfigStore(server.url, env))
  if (auth === undefined) throw new Error("the second window found no session")
  cleanups.push(() => auth.close())
  return auth
}

describe("chat auth session", () => {
  it("keeps the refresh token in chat.json, mode 0600, and rotates it on refresh", async () => {
    const { store, auth, env } = await setup()
    expect(store.refreshToken()).toBe("refresh-1")
    expect(statSync(join(configDir(env), "chat.json")).mode & 0o777).toBe(0o600)
    expect(await auth.refresh()).toBe("access-2")
    expect(store.refreshToken()).toBe("refresh-2")
  })

  it("never has two refreshes in flight: a replayed refresh token would revoke the session", async () => {
    const { server, auth } = await setup()
    const results = await Promise.all([auth.refresh(), auth.refresh(), auth.refresh()])
    expect(results).toEqual(["access-2", "access-2", "access-2"])
    expect(server.calls.filter((c) => c === "POST /api/refresh")).toHaveLength(1)
  })

  it("two windows of one session: after the other window rotated the token, this one refreshes with the newer one", async () => {
    const { server, store, auth, env } = await setup()
    // Window 2 starts from chat.json (rotating refresh-1 → refresh-2): window 1's copy is stale.
    const other = await secondWindow(server, env)
    expect(other.sessionId).toBe(auth.sessionId)
    server.expireAccess()
    // Window 1's access token is refused; its refresh must not replay refresh-1.
    await expect(auth.call("/api/me", { schema: UserView })).resolves.toMatchObject({ username: "alice" })
    expect(server.ended()).toBe(false)
    expect(store.refreshToken()).toBe("refresh-3")
    // And window 2, now stale in turn, adopts refresh-3 the same way.
    await expect(other.refresh()).resolves.toBe("access-4")
    expect(server.ended()).toBe(false)
  })

  it("two windows refreshing at the same moment spend each token once (the chat.json lock)", async () => {
    const { server, auth, env } = await setup()
    const other = await secondWindow(server, env)
    const results = await Promise.all([auth.refresh(), other.refresh()])
    expect(results.toSorted()).toEqual(["access-3", "access-4"])
    expect(server.ended()).toBe(false)
  })

  it("forgetting a session waits for the lock, so it never writes back a token another window just replaced", async () => {
    const { server, store, auth, env } = await setup()
    let forgotten: Promise<void> = Promise.resolve()
    // Another window holds the lock for a read-modify-write of its own: it reads the file…
    await withFileLock(env, configFileName, async () => {
      const before = readConfigFile(configFileName, env) as Record<string, any>
      // …this window forgets another session meanwhile (it must wait, not write now)…
      forgotten = store.forgetSession("an-old-session")
      await settle()
      // …and the other window writes what it read with its rotated token, and that old session.
      const sessions = {
        ...before.sessions,
        [auth.sessionId]: { refresh_token: "refresh-9", saved_at: Date.now() },
        "an-old-session": { refresh_token: "refresh-old", saved_at: Date.now() }
      }
      writeConfigFile(configFileName, { ...before, sessions }, env)
    })
    await forgotten
    expect(store.refreshToken()).toBe("refresh-9")
    expect(Object.keys((readConfigFile(configFileName, env) as Record<string, any>).sessions)).not.toContain(
      "an-old-session"
    )
    expect(server.ended()).toBe(false)
  })

  it("a call whose token refresh is refused fails as signed out", async () => {
    const { server, auth } = await setup()
    server.expireAccess()
    server.refuse()
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
    expect(store.refreshToken()).toBeUndefined()
    // The next run finds no session and asks to sign in.
    expect(await AuthSession.resume(server.url, store)).toBeUndefined()
  })
})

describe("chat logout", () => {
  it("with an expired access token: refreshes, ends the session on the server, then forgets it", async () => {
    const { server, store, auth } = await setup()
    server.expireAccess()
    await auth.logout()
    expect(server.calls.slice(1)).toEqual(["POST /api/logout", "POST /api/refresh", "POST /api/logout"])
    expect(server.ended()).toBe(true)
    expect(store.refreshToken()).toBeUndefined()
  })

  it("after another window rotated the token: logs out with the newer one", async () => {
    const { server, store, auth, env } = await setup()
    await secondWindow(server, env)
    await auth.logout()
    expect(server.ended()).toBe(true)
    expect(store.refreshToken()).toBeUndefined()
  })

  it("when the server cannot do it: fails, and the session is kept to try again", async () => {
    const { server, store, auth } = await setup()
    server.failLogout()
    await expect(auth.logout()).rejects.toMatchObject({ status: 503 })
    expect(server.ended()).toBe(false)
    expect(store.refreshToken()).toBe("refresh-1")
  })

  it("when the session had already ended: forgets it without an error", async () => {
    const { server, store, auth } = await setup()
    server.refuse()
    await auth.logout()
    expect(store.refreshToken()).toBeUndefined()
  })
})
