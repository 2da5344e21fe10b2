/**
 * The refresh grace window (REFRESH_REUSE_GRACE) over real HTTP against real server processes,
 * one per setting: a window no test outlives (1 minute), a short one a test waits past
 * (300 ms), and none (0). Called once per storage backend by the `http-*.integration.test.ts`
 * files. The edges of the window, to the millisecond, are in `refresh-grace.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request, uniqueName } from "./support/http.ts"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"

interface Pair {
  readonly token: string
  readonly refresh_token: string
  readonly session_id: string
}

const password = "grace-window-7x!"
/** Past the short window with a margin: the server stamped the rotation before it answered. */
const shortWindowMs = 300
const waitPastWindowMs = 2 * shortWindowMs

export const refreshGraceSuite = (backend: Backend) =>
  describe(`refresh grace window over HTTP (${backend.name})`, () => {
    let wide: RunningServer
    let short: RunningServer
    let off: RunningServer

    beforeAll(async () => {
      ;[wide, short, off] = await Promise.all([
        startServer(backend, { REFRESH_REUSE_GRACE: "1 minute" }),
        startServer(backend, { REFRESH_REUSE_GRACE: `${shortWindowMs} millis` }),
        startServer(backend, { REFRESH_REUSE_GRACE: "0" })
      ])
    })
    afterAll(async () => {
      await Promise.all([wide?.stop(), short?.stop(), off?.stop()])
    })

    const refresh = (server: RunningServer, refreshToken: string) =>
      request<Pair & { error: { code: string } }>(server.url, "POST", "/api/refresh", {
        body: { refresh_token: refreshToken }
      })
    const me = async (server: RunningServer, token: string) =>
      (await request(server.url, "GET", "/api/me", { token })).status
    const session = async (server: RunningServer) => {
      const name = uniqueName("grace")
      const signup = await request(server.url, "POST", "/signup", {
        body: { username: name, email: `${name}@example.com`, password }
      })
      expect(signup.status, JSON.stringify(signup.body)).toBe(201)
      const login = await request<Pair>(server.url, "POST", "/login", {
        body: { email_or_username: name, password }
      })
      expect(login.status, JSON.stringify(login.body)).toBe(200)
      return login.body
    }

    it("a duplicate within the window gets the same pair, and both access tokens work", async () => {
      const first = await session(wide)
      const rotated = await refresh(wide, first.refresh_token)
      expect(rotated.status).toBe(200)
      const again = await refresh(wide, first.refresh_token)
      expect(again.status, JSON.stringify(again.body)).toBe(200)
      expect(again.body.refresh_token).toBe(rotated.body.refresh_token)
      expect(again.body.refresh_token).not.toBe(first.refresh_token)
      expect(again.body.session_id).toBe(first.session_id)
      expect(await me(wide, rotated.body.token)).toBe(200)
      expect(await me(wide, again.body.token)).toBe(200)
      // The pair goes on as one: its refresh token rotates as usual.
      const next = await refresh(wide, again.body.refresh_token)
      expect(next.status).toBe(200)
      expect(next.body.refresh_token).not.toBe(again.body.refresh_token)
    })

    it("refreshes of one token sent at once all succeed with the same refresh token", async () => {
      const first = await session(wide)
      const results = await Promise.all(Array.from({ length: 8 }, () => refresh(wide, first.refresh_token)))
      expect(
        results.map((r) => r.status),
        JSON.stringify(results.map((r) => r.body))
      ).toEqual(Array(8).fill(200))
      expect(new Set(results.map((r) => r.body.refresh_token)).size).toBe(1)
      for (const r of results) {
        expect(r.body.session_id).toBe(first.session_id)
        expect(await me(wide, r.body.token)).toBe(200)
      }
      expect((await refresh(wide, results[0]!.body.refresh_token)).status).toBe(200)
    })

    it("a duplicate after the window is a replay: the session ends", async () => {
      const first = await session(short)
      const rotated = await refresh(short, first.refresh_token)
      expect(rotated.status).toBe(200)
      await new Promise((r) => setTimeout(r, waitPastWindowMs))
      const late = await refresh(short, first.refresh_token)
      expect(late.status).toBe(401)
      expect(late.body.error.code).toBe("invalid_refresh_token")
      expect((await refresh(short, rotated.body.refresh_token)).status).toBe(401)
      expect(await me(short, rotated.body.token)).toBe(401)
    })

    it("grace 0: of concurrent refreshes of one token exactly one wins, and the reuse ends the session", async () => {
      const first = await session(off)
      const other = await session(off)
      const results = await Promise.all(Array.from({ length: 8 }, () => refresh(off, first.refresh_token)))
      const winners = results.filter((r) => r.status === 200)
      expect(winners, JSON.stringify(results.map((r) => r.status))).toHaveLength(1)
      for (const loser of results.filter((r) => r.status !== 200)) {
        expect(loser.status).toBe(401)
        expect(loser.body.error.code).toBe("invalid_refresh_token")
      }
      const winner = winners[0]!.body
      expect(winner.session_id).toBe(first.session_id)
      // The session is over: its new refresh token, its new and old access tokens all fail.
      expect((await refresh(off, winner.refresh_token)).status).toBe(401)
      expect(await me(off, winner.token)).toBe(401)
      expect(await me(off, first.token)).toBe(401)
      // Only that session: another user's is untouched.
      expect(await me(off, other.token)).toBe(200)
    })

    it("grace 0: a duplicate sent right after the first answer ends the session", async () => {
      const first = await session(off)
      const rotated = await refresh(off, first.refresh_token)
      expect(rotated.status).toBe(200)
      expect((await refresh(off, first.refresh_token)).status).toBe(401)
      expect((await refresh(off, rotated.body.refresh_token)).status).toBe(401)
    })
  })
