/**
 * What every HTTP response carries and where `/metrics` lives, over a real server process:
 * security headers on successes, errors and health; `no-store` on responses carrying tokens;
 * 405 with `Allow` for a method a path does not declare (404 stays for unknown paths);
 * `/metrics` only on the metrics listener. Called once per backend by the `edge-*` files.
 */
import { request as httpRequest } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Reply, request, uniqueName } from "./support/http.ts"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"

const securityHeaders = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "content-security-policy": "frame-ancestors 'none'"
}

const expectSecurityHeaders = (reply: Reply, what: string) => {
  for (const [name, value] of Object.entries(securityHeaders))
    expect(reply.headers.get(name), `${what}: ${name}`).toBe(value)
}

/** Any method, TRACE included (fetch refuses it), with the same reply shape as `request`. */
const send = (base: string, method: string, path: string, headers: Record<string, string> = {}) =>
  new Promise<Reply>((done, fail) => {
    const req = httpRequest(new URL(path, base), { method, headers }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        text += chunk
      })
      res.on("end", () => {
        const headers = new Headers()
        for (const [name, value] of Object.entries(res.headers)) if (typeof value === "string") headers.set(name, value)
        let body: unknown = text === "" ? undefined : text
        try {
          body = JSON.parse(text)
        } catch {}
        done({ status: res.statusCode ?? 0, headers, body })
      })
    })
    req.on("error", fail)
    req.end()
  })

export const edgeSuite = (backend: Backend) =>
  describe(`response headers, methods and the metrics listener (${backend.name})`, () => {
    let server: RunningServer
    const call = (method: string, path: string, options?: Parameters<typeof request>[3]) =>
      options === undefined ? send(server.url, method, path) : request(server.url, method, path, options)
    const password = `edge-${uniqueName()}-Pw`

    beforeAll(async () => {
      server = await startServer(backend)
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("sends the security headers on successes, errors, health and the OpenAPI document", async () => {
      const replies: Array<[string, Reply]> = [
        ["GET /healthz", await call("GET", "/healthz")],
        ["GET /readyz", await call("GET", "/readyz")],
        ["GET /openapi.json", await call("GET", "/openapi.json")],
        ["401", await call("GET", "/api/me")],
        ["400", await call("POST", "/login", { rawBody: "{" })],
        ["404", await call("GET", "/no-such-path")],
        ["405", await call("TRACE", "/healthz")]
      ]
      expect(replies.map(([what, r]) => [what, r.status])).toEqual([
        ["GET /healthz", 200],
        ["GET /readyz", 200],
        ["GET /openapi.json", 200],
        ["401", 401],
        ["400", 400],
        ["404", 404],
        ["405", 405]
      ])
      for (const [what, reply] of replies) expectSecurityHeaders(reply, what)
    })

    it("marks every response that carries a token or credentials no-store", async () => {
      const username = uniqueName("edge")
      const signup = await call("POST", "/signup", {
        body: { username, email: `${username}@example.com`, password }
      })
      expect(signup.status, JSON.stringify(signup.body)).toBe(201)
      const login = await call("POST", "/login", { body: { email_or_username: username, password } })
      expect(login.status).toBe(200)
      const me = await call("GET", "/api/me", { token: login.body.token })
      const refresh = await call("POST", "/api/refresh", { body: { refresh_token: login.body.refresh_token } })
      expect(refresh.status).toBe(200)
      const sessions = await call("GET", "/api/sessions", { token: refresh.body.token })
      const logout = await call("POST", "/api/logout", {
        token: refresh.body.token,
        body: { refresh_token: refresh.body.refresh_token }
      })
      const refused = await call("POST", "/login", { body: { email_or_username: username, password: "wrong-Pw-1" } })
      expect(refused.status).toBe(401)
      const replies = { signup, login, me, refresh, sessions, logout, refused }
      for (const [what, reply] of Object.entries(replies)) {
        expect(reply.headers.get("cache-control"), what).toBe("no-store")
        expectSecurityHeaders(reply, what)
      }
    })

    it("answers a method the path does not declare with 405, Allow and method_not_allowed", async () => {
      const room = `/api/chat/rooms/${crypto.randomUUID()}`
      const cases: Array<[method: string, path: string, allow: string]> = [
        ["TRACE", "/healthz", "GET, HEAD"],
        ["PUT", "/healthz", "GET, HEAD"],
        ["OPTIONS", "/healthz", "GET, HEAD"],
        ["DELETE", "/login", "POST"],
        ["GET", "/login", "POST"],
        ["PATCH", room, "GET, HEAD"],
        ["POST", "/api/sessions/x", "DELETE"],
        ["PATCH", `${room}/members/${crypto.randomUUID()}`, "DELETE, PUT"],
        ["PUT", "/api/chat/rooms?limit=5", "GET, HEAD, POST"],
        ["POST", "/ws", "GET, HEAD"]
      ]
      for (const [method, path, allow] of cases) {
        const reply = await call(method, path)
        expect([method, path, reply.status, reply.headers.get("allow")]).toEqual([method, path, 405, allow])
        expect(reply.body.error.code).toBe("method_not_allowed")
      }
    })

    it("keeps 404 for paths no method answers, and tells a plain GET /ws to upgrade", async () => {
      for (const path of ["/no-such-path", "/api/chat/rooms/x/y/z", "/healthz/extra", "/metrics"]) {
        for (const method of ["GET", "TRACE"]) {
          const reply = await call(method, path)
          expect([method, path, reply.status, reply.headers.get("allow")]).toEqual([method, path, 404, null])
          expect(reply.body.error.code).toBe("not_found")
        }
      }
      const ws = await call("GET", "/ws")
      expect([ws.status, ws.headers.get("upgrade"), ws.body.error.code]).toEqual([426, "websocket", "upgrade_required"])
    })

    it("refuses a WebSocket upgrade with the same headers as every other response", async () => {
      const upgrade = {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="
      }
      const noToken = await send(server.url, "GET", "/ws", upgrade)
      const badPath = await send(server.url, "GET", "/ws/other", upgrade)
      expect([noToken.status, noToken.body.error.code, badPath.status]).toEqual([401, "unauthorized", 404])
      for (const [what, reply] of Object.entries({ noToken, badPath })) {
        expect(reply.headers.get("cache-control"), what).toBe("no-store")
        expect(reply.headers.get("x-request-id"), what).toMatch(/^[0-9a-f-]{36}$/)
        expectSecurityHeaders(reply, what)
      }
    })

    it("serves /metrics on the metrics listener only, on loopback, in Prometheus text", async () => {
      const metrics = new URL(server.metricsUrl)
      expect(metrics.hostname).toBe("127.0.0.1")
      expect(metrics.port).not.toBe(new URL(server.url).port)
      const res = await fetch(server.metricsUrl)
      expect(res.status).toBe(200)
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
      const text = await res.text()
      expect(text).toMatch(/^# TYPE parley_event_loop_delay_p99_seconds gauge$/m)
      // Written by the main server's WebSocket endpoint: one registry, two listeners.
      expect(text).toMatch(/^parley_ws_outbound_buffered_bytes \d+$/m)
      // On SQLite, the write-ahead log's size (it holds the migrations' pages at least).
      if (backend.name === "sqlite") expect(text).toMatch(/^parley_sqlite_wal_bytes [1-9]\d*$/m)
      // The public port does not serve it, and the metrics port serves nothing else.
      expect((await call("GET", "/metrics")).status).toBe(404)
      expect((await fetch(new URL("/healthz", metrics))).status).toBe(404)
      expect((await fetch(server.metricsUrl, { method: "POST" })).status).toBe(404)
    })
  })
