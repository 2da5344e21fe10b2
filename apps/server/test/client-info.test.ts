/**
 * The client's address behind `TRUST_PROXY` hops: only entries our own proxies appended count,
 * junk never becomes an address, and `Forwarded` is never read.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option } from "effect"
import { HttpServerRequest } from "effect/http"
import { clientInfo, resolveClientIp, TrustProxy } from "../src/http/client-info.ts"

const peer = "10.0.0.2"

describe("resolveClientIp", () => {
  it("ignores X-Forwarded-For with no trusted hop", () => {
    expect(resolveClientIp("203.0.113.9", peer, 0)).toBe(peer)
  })

  it("takes the entry the nearest proxy appended with one hop, whatever the client wrote before it", () => {
    expect(resolveClientIp("6.6.6.6, 203.0.113.9", peer, 1)).toBe("203.0.113.9")
    expect(resolveClientIp("203.0.113.9", peer, 1)).toBe("203.0.113.9")
    expect(resolveClientIp("1.1.1.1,2.2.2.2 ,  203.0.113.9", peer, 1)).toBe("203.0.113.9")
  })

  it("counts hops from the right", () => {
    expect(resolveClientIp("6.6.6.6, 203.0.113.9, 10.0.0.7", peer, 2)).toBe("203.0.113.9")
    expect(resolveClientIp("6.6.6.6, 203.0.113.9, 10.0.0.7, 10.0.0.8", peer, 3)).toBe("203.0.113.9")
  })

  it("takes the left-most entry when there are fewer entries than hops (all were written by our proxies)", () => {
    expect(resolveClientIp("203.0.113.9, 10.0.0.7", peer, 3)).toBe("203.0.113.9")
  })

  it("falls back to the socket's peer when the chosen entry is not an address, or there is no header", () => {
    expect(resolveClientIp("203.0.113.9, not-an-ip", peer, 1)).toBe(peer)
    expect(resolveClientIp("203.0.113.9, ", peer, 1)).toBe(peer)
    expect(resolveClientIp("unknown", peer, 1)).toBe(peer)
    expect(resolveClientIp("203.0.113.9, 999.1.1.1", peer, 1)).toBe(peer)
    expect(resolveClientIp(undefined, peer, 1)).toBe(peer)
  })

  it("writes one address one way: IPv4-mapped IPv6 as IPv4, ports and brackets dropped", () => {
    expect(resolveClientIp("::ffff:203.0.113.9", peer, 1)).toBe("203.0.113.9")
    expect(resolveClientIp("203.0.113.9:4711", peer, 1)).toBe("203.0.113.9")
    expect(resolveClientIp("[2001:db8::1]:443", peer, 1)).toBe("2001:db8::1")
    expect(resolveClientIp("[2001:db8::1]", peer, 1)).toBe("2001:db8::1")
    expect(resolveClientIp(undefined, "::ffff:127.0.0.1", 0)).toBe("127.0.0.1")
  })
})

describe("clientInfo", () => {
  const request = (headers: Record<string, string>) =>
    HttpServerRequest.fromWeb(new Request("http://parley.test/login", { headers })).modify({
      remoteAddress: Option.some(peer)
    })

  it.effect("reads X-Forwarded-For only, never Forwarded", () =>
    Effect.gen(function* () {
      const forwarded = yield* clientInfo(1).pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, request({ forwarded: "for=203.0.113.9" }))
      )
      expect(forwarded.ip).toBe(peer)
      const xff = yield* clientInfo(1).pipe(
        Effect.provideService(
          HttpServerRequest.HttpServerRequest,
          request({ "x-forwarded-for": "6.6.6.6, 203.0.113.9", "user-agent": "curl/8" })
        )
      )
      expect(xff).toEqual({ ip: "203.0.113.9", userAgent: "curl/8" })
    })
  )
})

describe("TRUST_PROXY", () => {
  const parse = (value: string | undefined) =>
    TrustProxy.parse(ConfigProvider.fromEnv({ env: value === undefined ? {} : { TRUST_PROXY: value } }))

  it.effect("is a number of hops; true and false mean 1 and 0; unset means 0", () =>
    Effect.gen(function* () {
      expect(yield* parse(undefined)).toBe(0)
      expect(yield* parse("false")).toBe(0)
      expect(yield* parse("true")).toBe(1)
      expect(yield* parse("0")).toBe(0)
      expect(yield* parse("1")).toBe(1)
      expect(yield* parse("2")).toBe(2)
    })
  )

  it.effect("refuses anything else", () =>
    Effect.gen(function* () {
      for (const bad of ["-1", "1.5", "many", "99"]) {
        const result = yield* Effect.result(parse(bad))
        expect(result._tag, bad).toBe("Failure")
      }
    })
  )
})
