/** Forged and malformed credentials are all refused with 401, against a real server process. */
import { generateKeyPair, SignJWT } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request, uniqueName } from "./support/http.ts"
import { type Backend, type RunningServer, startServer, testSecret } from "./support/server.ts"

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
const key = (secret: string) => new TextEncoder().encode(secret)

export const attacksSuite = (backend: Backend) =>
  describe(`token attacks (${backend.name})`, () => {
    let server: RunningServer
    let userId: string
    let sessionId: string
    let validToken: string
    let refreshToken: string

    const now = () => Math.floor(Date.now() / 1000)
    const claims = (overrides: Record<string, unknown> = {}) => ({
      sub: userId,
      sid: sessionId,
      iss: "parley",
      aud: "parley-api",
      iat: now(),
      exp: now() + 600,
      ...overrides
    })
    const sign = (
      payload: Record<string, unknown>,
      alg = "HS256",
      secret: Parameters<SignJWT["sign"]>[0] = key(testSecret)
    ) => new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(secret)
    const me = (token: string) => request(server.url, "GET", "/api/me", { token })

    beforeAll(async () => {
      server = await startServer(backend)
      const name = uniqueName("target")
      const signup = await request(server.url, "POST", "/signup", {
        body: { username: name, email: `${name}@example.com`, password: "secret12" }
      })
      userId = signup.body.id
      const login = await request(server.url, "POST", "/login", {
        body: { email_or_username: name, password: "secret12" }
      })
      validToken = login.body.token
      refreshToken = login.body.refresh_token
      sessionId = login.body.session_id
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("accepts a correctly signed token (the control)", async () => {
      expect((await me(validToken)).status).toBe(200)
      expect((await me(await sign(claims()))).status).toBe(200)
    })

    const cases: Array<[string, () => Promise<string>]> = [
      ["alg: none", async () => `${b64({ alg: "none", typ: "JWT" })}.${b64(claims())}.`],
      ["a stripped signature", async () => `${validToken.split(".").slice(0, 2).join(".")}.`],
      ["HS512 with the right secret", () => sign(claims(), "HS512")],
      [
        "RS256 with a key of its own",
        async () => {
          const { privateKey } = await generateKeyPair("RS256")
          return sign(claims(), "RS256", privateKey)
        }
      ],
      ["HS256 with the wrong key", () => sign(claims(), "HS256", key("another-secret-that-is-long-enough-0123456789"))],
      [
        "a tampered payload",
        async () => {
          const [header, , signature] = validToken.split(".")
          return `${header}.${b64(claims({ sub: crypto.randomUUID() }))}.${signature}`
        }
      ],
      ["an expired token", () => sign(claims({ iat: now() - 3600, exp: now() - 60 }))],
      [
        "a token without exp",
        async () => {
          const { exp: _exp, ...rest } = claims()
          return sign(rest)
        }
      ],
      ["the wrong issuer", () => sign(claims({ iss: "someone-else" }))],
      ["the wrong audience", () => sign(claims({ aud: "another-api" }))],
      ["a non-UUID subject", () => sign(claims({ sub: "admin" }))],
      ["a refresh token used as an access token", async () => refreshToken],
      ["garbage", async () => "not.a.jwt"]
    ]
    for (const [name, forge] of cases) {
      it(`rejects ${name} with 401`, async () => {
        const res = await me(await forge())
        expect(res.status).toBe(401)
        expect(res.body.error.code).toBe("unauthorized")
      })
    }

    it("rejects a 64 KB Authorization header with 401", async () => {
      const res = await me("a".repeat(64 * 1024))
      expect(res.status).toBe(401)
    })

    it("rejects a missing or non-Bearer Authorization header with 401", async () => {
      expect((await request(server.url, "GET", "/api/me")).status).toBe(401)
      const basic = await request(server.url, "GET", "/api/me", {
        headers: { authorization: "Basic Ym9iOnNlY3JldDEy" }
      })
      expect(basic.status).toBe(401)
    })
  })
