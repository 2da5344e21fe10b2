/**
 * Login limits and the client's address behind a proxy, over real HTTP against a real server
 * process (`TRUST_PROXY=1`; the Redis rate-limit store on the Cassandra backend). Each test
 * plays its addresses through `X-Forwarded-For`, as the proxy in front of Parley would write them.
 */
import type { UserId } from "@parley/domain"
import { Users } from "@parley/storage"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request, uniqueName } from "./support/http.ts"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"

// Addresses unique to this run: the Redis store is shared with other runs.
let nextAddress = Math.floor(Math.random() * 60_000)
const address = () => {
  nextAddress++
  return `10.${100 + Math.floor(Math.random() * 100)}.${(nextAddress >> 8) & 255}.${nextAddress & 255}`
}

export const loginLimitsSuite = (backend: Backend) =>
  describe(`login limits behind a proxy (${backend.name})`, () => {
    let server: RunningServer

    const signup = async () => {
      const name = uniqueName("lim")
      const res = await request(server.url, "POST", "/signup", {
        body: { username: name, email: `${name}@example.com`, password: "secret12" }
      })
      expect(res.status).toBe(201)
      return { id: res.body.id as UserId, username: name, email: `${name}@example.com` }
    }
    /** A login that reached the server through our proxy, which appended `from`. */
    const login = (from: string, login: string, password = "secret12", spoofed?: string) =>
      request(server.url, "POST", "/login", {
        body: { email_or_username: login, password },
        headers: { "x-forwarded-for": spoofed === undefined ? from : `${spoofed}, ${from}` }
      })
    const statuses = async (from: string, who: string, times: number, password = "wrong-password") => {
      const all: Array<number> = []
      for (let i = 0; i < times; i++) all.push((await login(from, who, password)).status)
      return all
    }
    const sessionIps = async (token: string) => {
      const res = await request(server.url, "GET", "/api/sessions", { token })
      expect(res.status).toBe(200)
      return (res.body.sessions as Array<{ ip: string | null }>).map((s) => s.ip)
    }

    beforeAll(async () => {
      server = await startServer(backend, { TRUST_PROXY: "1", RATE_LOGIN_PER_IP: "30" })
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("rotating spoofed X-Forwarded-For entries neither escape the per-address limit nor reach sessions", async () => {
      const user = await signup()
      const real = address()
      const results: Array<number> = []
      let token = ""
      for (let i = 0; i < 40; i++) {
        const res = await login(real, user.username, "secret12", `192.0.2.${i}`)
        results.push(res.status)
        if (res.status === 200) token = res.body.token
      }
      expect(results.slice(0, 30)).toEqual(Array(30).fill(200))
      expect(results.slice(30)).toEqual(Array(10).fill(429))
      expect(new Set(await sessionIps(token))).toEqual(new Set([real]))
    })

    it("records the socket's address when the nearest entry is junk, and never reads Forwarded", async () => {
      const user = await signup()
      const res = await request(server.url, "POST", "/login", {
        body: { email_or_username: user.username, password: "secret12" },
        headers: { "x-forwarded-for": `${address()}, not-an-address`, forwarded: `for=${address()}` }
      })
      expect(res.status).toBe(200)
      expect(await sessionIps(res.body.token)).toEqual(["127.0.0.1"])
    })

    it("an attacker who used up an account's guesses from one address does not stop its owner at another", async () => {
      const victim = await signup()
      const attacker = address()
      expect(await statuses(attacker, victim.username, 5)).toEqual(Array(5).fill(401))
      const refused = await login(attacker, victim.username)
      expect(refused.status).toBe(429)
      expect(refused.body.error.code).toBe("rate_limited")
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0)
      expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(15 * 60)
      expect((await login(address(), victim.username)).status).toBe(200)
    })

    it("counts guesses by username and by email against one budget", async () => {
      const victim = await signup()
      const attacker = address()
      expect(await statuses(attacker, victim.username, 3)).toEqual([401, 401, 401])
      expect(await statuses(attacker, victim.email.toUpperCase(), 2)).toEqual([401, 401])
      expect((await login(attacker, victim.email)).status).toBe(429)
      expect((await login(attacker, victim.username)).status).toBe(429)
    })

    it("a right password does not use up the budget", async () => {
      const user = await signup()
      const from = address()
      expect(await statuses(from, user.username, 8, "secret12")).toEqual(Array(8).fill(200))
      expect(await statuses(from, user.username, 5)).toEqual(Array(5).fill(401))
      expect((await login(from, user.username)).status).toBe(429)
    })

    it("a disabled account's right password is no guess either: 403 every time, never 429", async () => {
      const user = await signup()
      await Effect.runPromise(
        Effect.gen(function* () {
          const users = yield* Users
          yield* users.update(user.id, { disabled: true }, Date.now())
        }).pipe(Effect.provide(backend.storage(server.env).pipe(Layer.orDie)))
      )
      expect(await statuses(address(), user.username, 7, "secret12")).toEqual(Array(7).fill(403))
    })

    it("caps an account's guesses across addresses, and still lets in an address that logged in before", async () => {
      const victim = await signup()
      const home = address()
      expect((await login(home, victim.username)).status).toBe(200)
      for (let i = 0; i < 4; i++) expect(await statuses(address(), victim.username, 5)).toEqual(Array(5).fill(401))
      expect((await login(address(), victim.username, "wrong-password")).status).toBe(429)
      // The owner from a new address waits for the window, but from home gets in.
      expect((await login(address(), victim.username)).status).toBe(429)
      expect((await login(home, victim.username)).status).toBe(200)
    })

    it("limits guesses at names that do not exist the same way, with the same answers", async () => {
      const victim = await signup()
      const nobody = uniqueName("nobody")
      const attacker = address()
      const wrongForNobody = await login(attacker, nobody, "wrong-password")
      const wrongForVictim = await login(attacker, victim.username, "wrong-password")
      expect(wrongForNobody.status).toBe(401)
      expect(wrongForNobody.body).toEqual(wrongForVictim.body)
      expect(await statuses(attacker, nobody.toUpperCase(), 4)).toEqual(Array(4).fill(401))
      const refused = await login(attacker, nobody)
      expect(refused.status).toBe(429)
      expect(refused.body.error.code).toBe("rate_limited")
    })
  })
