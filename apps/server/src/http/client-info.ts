import { Config, Effect, Option, Result, Schema } from "effect"
import { HttpServerRequest } from "effect/http"
import { NetAddress } from "effect/net"
import type { ClientInfo } from "../auth/accounts.ts"

/**
 * `TRUST_PROXY`: how many proxies of ours stand in front of the server, each appending the
 * address it received the request from to `X-Forwarded-For`. `0` (the default): the header is
 * ignored. `true`/`false` are kept as aliases of `1`/`0`.
 */
export const TrustProxy = Config.Boolean("TRUST_PROXY").pipe(
  Config.map((on) => (on ? 1 : 0)),
  Config.orElse(() => Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 32 })), "TRUST_PROXY")),
  Config.withDefault(0)
)

/** An address as one text per host: IPv4-mapped IPv6 becomes IPv4, a port is dropped; junk is undefined. */
const parseAddress = (input: string | undefined): string | undefined => {
  if (input === undefined || input === "") return undefined
  const bare = input.startsWith("[") && input.endsWith("]") ? input.slice(1, -1) : input
  const ip = NetAddress.ipFromString(bare)
  if (Result.isSuccess(ip)) return NetAddress.formatIp(NetAddress.toCanonical(ip.success))
  const inet = NetAddress.inetAddressFromString(input)
  return Result.isSuccess(inet) ? NetAddress.formatIp(NetAddress.toCanonical(inet.success.address)) : undefined
}

/**
 * The client's address. A client can write anything into `X-Forwarded-For`, but it can only
 * add entries on the left: each proxy appends on the right. So with `trustedHops` proxies,
 * the entry `trustedHops` from the right is the one our outermost proxy wrote. With fewer
 * entries than hops, every entry was written by one of our proxies and the left-most one is
 * the furthest known. An entry that is not an IP address, or no header, falls back to the
 * socket's peer. `Forwarded` (RFC 7239) is never read: our proxies are expected to write
 * `X-Forwarded-For`, and an unread header cannot be spoofed.
 */
export const resolveClientIp = (
  forwardedFor: string | undefined,
  peer: string | undefined,
  trustedHops: number
): string | null => {
  const socket = parseAddress(peer) ?? peer ?? null
  if (trustedHops <= 0 || forwardedFor === undefined) return socket
  const entries = forwardedFor.split(",").map((entry) => entry.trim())
  const chosen = entries[Math.max(0, entries.length - trustedHops)]
  return parseAddress(chosen) ?? socket
}

/** Who is at the other end: the one place that reads the client's address, for every caller. */
export const clientInfo = (
  trustedHops: number
): Effect.Effect<ClientInfo, never, HttpServerRequest.HttpServerRequest> =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => ({
    ip: resolveClientIp(request.headers["x-forwarded-for"], Option.getOrUndefined(request.remoteAddress), trustedHops),
    userAgent: request.headers["user-agent"] ?? null
  }))
