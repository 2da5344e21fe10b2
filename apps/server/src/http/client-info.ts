import { Effect, Option } from "effect"
import { HttpServerRequest } from "effect/http"
import type { ClientInfo } from "../auth/accounts.ts"

/**
 * Who is at the other end. `X-Forwarded-For` is honoured only with `TRUST_PROXY=true`
 * (set it only behind a proxy that overwrites the header), or anyone could pick their IP.
 */
export const clientInfo = (
  trustProxy: boolean
): Effect.Effect<ClientInfo, never, HttpServerRequest.HttpServerRequest> =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const forwarded = trustProxy ? request.headers["x-forwarded-for"]?.split(",")[0]?.trim() : undefined
    const ip = forwarded || Option.getOrNull(request.remoteAddress)
    return { ip: ip ?? null, userAgent: request.headers["user-agent"] ?? null }
  })
