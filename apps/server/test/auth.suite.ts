/**
 * Accounts and sessions over real HTTP against a real server process. Called once per
 * storage backend by the `*.integration.test.ts` files.
 */

import type { UserId } from "@parley/domain"
import { Users } from "@parley/storage"
import { Effect, Layer } from "effect"
import { SignJWT } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request, uniqueName } from "./support/http.ts"
import { type Backend, type RunningServer, startServer, testSecret } from "./support/server.ts"

export const authSuite = (backend: Backend) =>
  describe(`auth over HTTP (${backend.name})`, () => {
    let server: RunningServer
    const call = <T = any>(method: string, path: string, options?: Parameters<typeof request>[3]) =>
      request<T>(server.url, method, path, options)

    const signup = async (name = uniqueName(), password = "secret12") => {
      const res = await call("POST", "/signup", { body: { username: name, email: `${name}@example.com`, password } })
      expect(res.status).toBe(201)
      return { ...res.body, password }
    }
    const login = async (login: string, password = "secret12") => {
      const res = await call("POST", "/login", { body: { email_or_username: login, password } })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      return res.body as { token: string; refresh_token: string; session_id: string; expires_in: number }
    }

    beforeAll(async () => {
      server = await startServer(backend)
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("answers /healthz and /readyz naming each dependency", async () => {
      expect((await call("GET", "/healthz")).body).toEqual({ status: "ok" })
      const ready = await call("GET", "/readyz")
      expect(ready.status).toBe(200)
      expect(ready.body.checks.storage).toBe("up")
      if (server.env.REDIS_URL) expect(ready.body.checks.redis).toBe("up")
    })

    it("signs up, rejects duplicates regardless of case, and validates input", async () => {
      const name = uniqueName("Ann")
      const created = await call("POST", "/signup", {
        body: { username: name, email: `${name}@Example.com`, password: "secret12" }
      })
      expect(created.status).toBe(201)
      expect(created.body).toMatchObject({ username: name, email: `${name}@Example.com`, role: "user" })
      expect(created.body).not.toHaveProperty("password_hash")

      const taken = await call("POST", "/signup", {
        body: { username: name.toUpperCase(), email: `${uniqueName()}@example.com`, password: "secret12" }
      })
      expect(taken.status).toBe(409)
      expect(taken.body.error.code).toBe("username_taken")
      const registered = await call("POST", "/signup", {
        body: { username: uniqueName(), email: `${name.toLowerCase()}@example.com`, password: "secret12" }
      })
      expect(registered.status).toBe(409)
      expect(registered.body.error.code).toBe("email_registered")

      const invalid = [
        { username: "ab", email: "a@example.com", password: "secret12" },
        { username: "has space", email: "a@example.com", password: "secret12" },
        { username: uniqueName(), email: "not-an-email", password: "secret12" },
        { username: uniqueName(), email: "a@example.com", password: "short" },
        { username: uniqueName(), email: "a@example.com", password: "x".repeat(1025) },
        { username: uniqueName(), email: "a@example.com" }
      ]
      for (const body of invalid) {
        const res = await call("POST", "/signup", { body })
        expect(res.status, JSON.stringify(body)).toBe(400)
        expect(res.body.error.code).toBe("invalid_request")
        expect(res.body.error.message).toMatch(/^payload/)
      }
      // Control and invisible formatting characters (Unicode Cc, Cf): ESC, a bidi override, zero width.
      for (const c of ["\u001b", "\u202e", "\u200b"]) {
        const res = await call("POST", "/signup", {
          body: { username: `ev${c}il`, email: "evil@example.com", password: "secret12" }
        })
        expect(res.status, JSON.stringify(c)).toBe(400)
        expect(res.body.error.message).toBe(
          "payload.username: username must not contain control or invisible formatting characters (Unicode Cc/Cf)"
        )
      }
      const badJson = await call("POST", "/signup", { rawBody: "{not json" })
      expect(badJson.status).toBe(400)
      expect(badJson.body.error.code).toBe("invalid_request")
      const tooLarge = await call("POST", "/signup", { rawBody: JSON.stringify({ username: "x".repeat(100_000) }) })
      expect(tooLarge.status).toBe(413)
      expect(tooLarge.body.error.code).toBe("payload_too_large")
      // A 1024-character password is allowed.
      expect((await signup(uniqueName(), "p".repeat(1024))).username).toBeDefined()
    })

    it("logs in by username or email with one generic 401 for unknown user and wrong password", async () => {
      const user = await signup()
      const byName = await login(user.username)
      expect(byName.token.split(".")).toHaveLength(3)
      expect(byName.expires_in).toBeGreaterThan(0)
      await login(user.email.toUpperCase())

      const wrong = await call("POST", "/login", { body: { email_or_username: user.username, password: "wrongpass" } })
      const unknown = await call("POST", "/login", { body: { email_or_username: uniqueName(), password: "wrongpass" } })
      expect(wrong.status).toBe(401)
      expect(unknown.status).toBe(401)
      expect(unknown.body).toEqual(wrong.body)
    })

    it("serves /api/me and /api/profile to the bearer of a valid token only", async () => {
      const user = await signup()
      const { token } = await login(user.username)
      for (const path of ["/api/me", "/api/profile"]) {
        const res = await call("GET", path, { token })
        expect(res.status).toBe(200)
        expect(res.body).toEqual({
          id: user.id,
          username: user.username,
          email: user.email,
          role: "user",
          created_at: user.created_at,
          updated_at: user.updated_at
        })
        expect((await call("GET", path)).status).toBe(401)
      }
    })

    it("rotates refresh tokens, even after the access token expired, and a replay revokes the family", async () => {
      const user = await signup()
      const first = await login(user.username)
      const expired = await new SignJWT({ sid: first.session_id })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(user.id)
        .setIssuer("parley")
        .setAudience("parley-api")
        .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(new TextEncoder().encode(testSecret))
      expect((await call("GET", "/api/me", { token: expired })).status).toBe(401)

      const second = await call("POST", "/api/refresh", {
        token: expired,
        body: { refresh_token: first.refresh_token }
      })
      expect(second.status).toBe(200)
      expect(second.body.refresh_token).not.toBe(first.refresh_token)
      expect(second.body.session_id).toBe(first.session_id)
      const third = await call("POST", "/api/refresh", { body: { refresh_token: second.body.refresh_token } })
      expect(third.status).toBe(200)

      // Replaying the first token: refused, and the live successor dies with its session.
      const replay = await call("POST", "/api/refresh", { body: { refresh_token: first.refresh_token } })
      expect(replay.status).toBe(401)
      expect(replay.body.error.code).toBe("invalid_refresh_token")
      expect((await call("POST", "/api/refresh", { body: { refresh_token: third.body.refresh_token } })).status).toBe(
        401
      )
      expect((await call("GET", "/api/me", { token: third.body.token })).status).toBe(401)
    })

    it("refuses a refresh whose Bearer belongs to another user", async () => {
      const alice = await login((await signup()).username)
      const bob = await login((await signup()).username)
      const res = await call("POST", "/api/refresh", { token: bob.token, body: { refresh_token: alice.refresh_token } })
      expect(res.status).toBe(401)
    })

    // Concurrent refreshes of one token and the grace window: refresh-grace.suite.ts.

    it("logout ends only its own session; sessions can be listed and revoked", async () => {
      const user = await signup()
      const phone = await login(user.username)
      const laptop = await login(user.username)

      const listed = await call("GET", "/api/sessions", { token: laptop.token })
      expect(listed.status).toBe(200)
      const ids = listed.body.sessions.map((s: { id: string }) => s.id)
      expect(ids).toEqual(expect.arrayContaining([phone.session_id, laptop.session_id]))
      expect(listed.body.sessions.find((s: { current: boolean }) => s.current).id).toBe(laptop.session_id)

      const out = await call("POST", "/api/logout", {
        token: phone.token,
        body: { refresh_token: phone.refresh_token }
      })
      expect(out.status).toBe(204)
      expect((await call("GET", "/api/me", { token: phone.token })).status).toBe(401)
      expect((await call("POST", "/api/refresh", { body: { refresh_token: phone.refresh_token } })).status).toBe(401)
      expect((await call("GET", "/api/me", { token: laptop.token })).status).toBe(200)

      // Someone else's refresh token cannot log you out of anything.
      const other = await login((await signup()).username)
      const foreign = await call("POST", "/api/logout", {
        token: laptop.token,
        body: { refresh_token: other.refresh_token }
      })
      expect(foreign.status).toBe(401)
      expect((await call("GET", "/api/me", { token: other.token })).status).toBe(200)

      const tablet = await login(user.username)
      expect((await call("DELETE", `/api/sessions/${tablet.session_id}`, { token: laptop.token })).status).toBe(204)
      expect((await call("GET", "/api/me", { token: tablet.token })).status).toBe(401)
      const notMine = await call("DELETE", `/api/sessions/${other.session_id}`, { token: laptop.token })
      expect(notMine.status).toBe(404)
      expect((await call("GET", "/api/me", { token: other.token })).status).toBe(200)
      expect((await call("DELETE", "/api/sessions/not-a-uuid", { token: laptop.token })).status).toBe(400)
    })

    it("a disabled account can neither log in, refresh, nor use its access token", async () => {
      const user = await signup()
      const session = await login(user.username)
      await Effect.runPromise(
        Effect.gen(function* () {
          const users = yield* Users
          yield* users.update(user.id as UserId, { disabled: true }, Date.now())
        }).pipe(Effect.provide(backend.storage(server.env).pipe(Layer.orDie)))
      )
      expect((await call("GET", "/api/me", { token: session.token })).status).toBe(401)
      expect((await call("POST", "/api/refresh", { body: { refresh_token: session.refresh_token } })).status).toBe(401)
      const res = await call("POST", "/login", { body: { email_or_username: user.username, password: "secret12" } })
      expect(res.status).toBe(403)
      const wrong = await call("POST", "/login", { body: { email_or_username: user.username, password: "wrongpass" } })
      expect(wrong.status).toBe(401)
    })

    it("limits wrong passwords per account and address with 429 and Retry-After, without locking out other accounts", async () => {
      // The full rules, across addresses: login-limits.suite.ts.
      const victim = await signup()
      const bystander = await signup()
      const statuses: Array<number> = []
      for (let i = 0; i < 5; i++) {
        statuses.push(
          (await call("POST", "/login", { body: { email_or_username: victim.username, password: "wrongpass" } })).status
        )
      }
      expect(statuses.every((s) => s === 401)).toBe(true)
      const limited = await call("POST", "/login", {
        body: { email_or_username: victim.username, password: "secret12" }
      })
      expect(limited.status).toBe(429)
      expect(limited.body.error.code).toBe("rate_limited")
      const retryAfter = Number(limited.headers.get("retry-after"))
      expect(retryAfter).toBeGreaterThan(0)
      expect(retryAfter).toBeLessThanOrEqual(15 * 60)
      await login(bystander.username)
    })

    it("tags every response with a request id and echoes a sane incoming one", async () => {
      const fresh = await call("GET", "/healthz")
      expect(fresh.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
      const echoed = await call("GET", "/nope", { headers: { "x-request-id": "trace-123" } })
      expect(echoed.status).toBe(404)
      expect(echoed.headers.get("x-request-id")).toBe("trace-123")
      expect(echoed.body.error.code).toBe("not_found")
      const junk = await call("GET", "/healthz", { headers: { "x-request-id": "bad id\twith junk" } })
      expect(junk.headers.get("x-request-id")).not.toBe("bad id\twith junk")
    })

    it("never writes passwords or tokens to its logs", async () => {
      const password = `pw-${uniqueName()}-secret`
      const user = await signup(uniqueName(), password)
      const session = await login(user.username, password)
      await call("GET", "/api/me", { token: session.token })
      await call("POST", "/api/refresh", { body: { refresh_token: session.refresh_token } })
      await call("POST", "/login", { body: { email_or_username: user.username, password: `${password}-wrong` } })
      const logs = server.output()
      expect(logs).toContain(`"path":"/api/refresh"`)
      expect(logs).not.toContain(password)
      expect(logs).not.toContain(session.token)
      expect(logs).not.toContain(session.refresh_token)
      expect(logs).not.toContain(testSecret)
    })
  })
