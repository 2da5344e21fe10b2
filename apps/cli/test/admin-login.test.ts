import { statSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { loginFile, readLogins, saveLogin, withLoginLock } from "../src/admin/login-store.ts"
import { configDir } from "../src/shared/config-file.ts"
import { apiError, fakeIo, runWith, stubServers, tokens } from "./admin-fakes.ts"

const stats = { users: 1, rooms: 2, messages_today: 3, sockets_connected: 4 }

const serve = stubServers()

/** A saved login whose access token expires `inMs` from now. */
const seed = (env: NodeJS.ProcessEnv, server: string, access: string, refresh: string, inMs: number) =>
  saveLogin(env, server, {
    username: "root",
    user_id: "9d0e0b7c-1f2a-4b3c-8d4e-5f6a7b8c5d3e",
    session_id: "5d3e0b7c-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
    refresh_token: refresh,
    access_token: access,
    access_expires_at: Date.now() + inMs
  })

describe("login", () => {
  it("reads the password from stdin, saves the session 0600 in a 0700 folder, and later commands use it", async () => {
    const stub = await serve((r) =>
      r.path === "/login" ? { status: 200, body: tokens("access-1", "refresh-1") } : { status: 200, body: stats }
    )
    const recorded = fakeIo({ stdin: "s3cret pass\nignored\n" })
    expect(await runWith(recorded, "--server", stub.url, "login", "-u", "root", "--password-stdin")).toBe(0)
    expect(stub.requests[0]?.body).toEqual({ email_or_username: "root", password: "s3cret pass" })
    expect(recorded.out()).toBe(`Logged in to ${stub.url} as root (role admin).\n`)
    const dir = configDir(recorded.io.env)
    expect(statSync(join(dir, loginFile)).mode & 0o777).toBe(0o600)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(readLogins(recorded.io.env).servers[stub.url]?.refresh_token).toBe("refresh-1")

    // No --server: the saved login's server; no --token: its access token.
    expect(await runWith(recorded, "stats", "--json")).toBe(0)
    expect(stub.requests[1]?.path).toBe("/api/admin/stats")
    expect(stub.requests[1]?.authorization).toBe("Bearer access-1")
  })

  it("warns when the account is not an admin", async () => {
    const answer = tokens("a", "r")
    const stub = await serve(() => ({ status: 200, body: { ...answer, user: { ...answer.user, role: "user" } } }))
    const recorded = fakeIo({ stdin: "password1\n" })
    expect(await runWith(recorded, "--server", stub.url, "login", "-u", "root")).toBe(0)
    expect(recorded.err()).toContain("is not an admin")
  })

  it("wrong credentials exit 3 and save nothing", async () => {
    const stub = await serve(() => apiError(401, "invalid_credentials", "invalid email/username or password"))
    const recorded = fakeIo({ stdin: "password1\n" })
    expect(await runWith(recorded, "--server", stub.url, "login", "-u", "root")).toBe(3)
    expect(recorded.err()).toBe("parley-admin: error: wrong username or password\n")
    expect(readLogins(recorded.io.env).servers).toEqual({})
  })

  it("a login for another server does not count", async () => {
    const recorded = fakeIo()
    seed(recorded.io.env, "http://127.0.0.1:9", "a", "r", 600_000)
    expect(await runWith(recorded, "--server", "http://127.0.0.1:10", "stats")).toBe(3)
    expect(recorded.err()).toContain("not logged in to http://127.0.0.1:10")
  })
})

describe("the saved session", () => {
  it("refreshes an access token near its expiry and saves the rotated refresh token", async () => {
    const stub = await serve((r) =>
      r.path === "/api/refresh" ? { status: 200, body: tokens("access-2", "refresh-2") } : { status: 200, body: stats }
    )
    const recorded = fakeIo()
    seed(recorded.io.env, stub.url, "access-1", "refresh-1", 10_000)
    expect(await runWith(recorded, "stats")).toBe(0)
    expect(stub.requests.map((r) => r.path)).toEqual(["/api/refresh", "/api/admin/stats"])
    expect(stub.requests[0]?.body).toEqual({ refresh_token: "refresh-1" })
    expect(stub.requests[1]?.authorization).toBe("Bearer access-2")
    const saved = readLogins(recorded.io.env).servers[stub.url]
    expect(saved?.refresh_token).toBe("refresh-2")
    expect(saved?.access_token).toBe("access-2")
  })

  it("a refused access token is refreshed once and the call retried", async () => {
    const stub = await serve((r) => {
      if (r.path === "/api/refresh") return { status: 200, body: tokens("access-2", "refresh-2") }
      return r.authorization === "Bearer access-2" ? { status: 200, body: stats } : apiError(401, "unauthorized", "no")
    })
    const recorded = fakeIo()
    seed(recorded.io.env, stub.url, "access-1", "refresh-1", 600_000)
    expect(await runWith(recorded, "stats")).toBe(0)
    expect(stub.requests.map((r) => r.path)).toEqual(["/api/admin/stats", "/api/refresh", "/api/admin/stats"])
  })

  it("a revoked session exits 3 and says to log in again", async () => {
    const stub = await serve(() => apiError(401, "invalid_refresh_token", "refresh token is invalid"))
    const recorded = fakeIo()
    seed(recorded.io.env, stub.url, "access-1", "refresh-1", 0)
    expect(await runWith(recorded, "stats")).toBe(3)
    expect(recorded.err()).toContain("has expired or was revoked: run `parley-admin login`")
  })

  it("two commands at once spend the refresh token once (the second waits for the first's refresh)", async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((done) => {
      release = done
    })
    let refreshArrived: () => void = () => {}
    const arrived = new Promise<void>((done) => {
      refreshArrived = done
    })
    const stub = await serve((r) => {
      if (r.path !== "/api/refresh") return { status: 200, body: stats }
      refreshArrived()
      return { status: 200, body: tokens("access-2", "refresh-2") }
    })
    // The stub answers at once, so hold the first command's refresh in flight by delaying
    // its answer: wrap fetch for this test only.
    const realFetch = globalThis.fetch
    globalThis.fetch = (async (...args: Parameters<typeof fetch>) => {
      const response = await realFetch(...args)
      if (String(args[0]).endsWith("/api/refresh")) await gate
      return response
    }) as typeof fetch
    try {
      const first = fakeIo()
      seed(first.io.env, stub.url, "access-1", "refresh-1", 0)
      let secondWaits: () => void = () => {}
      const waiting = new Promise<void>((done) => {
        secondWaits = done
      })
      const second = { ...first, io: { ...first.io, onLoginLockBusy: () => secondWaits() } }
      const a = runWith(first, "stats")
      await arrived // the first holds the lock, its refresh is at the server
      const b = runWith(second, "stats")
      // The second read the spent token too and now waits for the lock; only then does the
      // first's refresh finish, so the second must take the token the first saved.
      await waiting
      release()
      expect(await a).toBe(0)
      expect(await b).toBe(0)
    } finally {
      globalThis.fetch = realFetch
    }
    expect(stub.requests.filter((r) => r.path === "/api/refresh")).toHaveLength(1)
    expect(stub.requests.filter((r) => r.path === "/api/admin/stats").map((r) => r.authorization)).toEqual([
      "Bearer access-2",
      "Bearer access-2"
    ])
  })

  it("the lock runs one holder at a time", async () => {
    const { io } = fakeIo()
    const order: Array<string> = []
    let release: () => void = () => {}
    const gate = new Promise<void>((done) => {
      release = done
    })
    const a = withLoginLock(io.env, async () => {
      order.push("a-start")
      await gate
      order.push("a-end")
    })
    let bWaits: () => void = () => {}
    const waiting = new Promise<void>((done) => {
      bWaits = done
    })
    const b = withLoginLock(
      io.env,
      async () => {
        order.push("b-start")
      },
      () => bWaits()
    )
    await waiting // b found the lock held and waits
    release()
    await Promise.all([a, b])
    expect(order).toEqual(["a-start", "a-end", "b-start"])
  })
})

describe("logout", () => {
  it("revokes the session on the server with the current refresh token and forgets it", async () => {
    const stub = await serve((r) => (r.path === "/api/logout" ? { status: 204 } : { status: 200, body: stats }))
    const recorded = fakeIo()
    seed(recorded.io.env, stub.url, "access-1", "refresh-1", 600_000)
    expect(await runWith(recorded, "logout")).toBe(0)
    expect(stub.requests[0]?.body).toEqual({ refresh_token: "refresh-1" })
    expect(stub.requests[0]?.authorization).toBe("Bearer access-1")
    expect(readLogins(recorded.io.env).servers).toEqual({})
    expect(await runWith(recorded, "--server", stub.url, "stats")).toBe(3)
  })
})
