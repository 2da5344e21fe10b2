import { Role, SessionId, Unauthorized, UserId } from "@parley/domain"
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose"
import { hs256Key, signedBy } from "./hs256.ts"

/** The claims Parley puts in an access token, decoded rather than trusted. */
export const AccessClaims = Schema.Struct({
  sub: UserId,
  sid: SessionId,
  iss: Schema.String,
  aud: Schema.Union([Schema.String, Schema.Array(Schema.String)]),
  iat: Schema.Int,
  exp: Schema.Int,
  /**
   * The role when the token was issued, for clients to adapt their interface. Optional so
   * that tokens issued before roles existed still verify. The server never authorizes by it:
   * admin routes read the stored role on every request, so a demotion takes effect at once.
   */
  role: Schema.optionalKey(Role)
})
export type AccessClaims = typeof AccessClaims.Type
const decodeClaims = Schema.decodeUnknownOption(AccessClaims)

/** Real tokens are ~300 bytes; refuse anything huge before doing any crypto on it. */
const maxTokenLength = 4096

/** How many verified tokens are remembered (about 1 KiB each); the oldest goes first. */
const verifiedCapacity = 10_000

interface Authentic {
  readonly claims: AccessClaims
  /** `nbf` in seconds; 0 when the token has none. */
  readonly notBefore: number
}

export interface AccessTokenOptions {
  readonly secret: Redacted.Redacted<string>
  readonly previousSecret: Option.Option<Redacted.Redacted<string>>
  readonly issuer: string
  readonly audience: string
  readonly ttl: Duration.Duration
}

/**
 * Short-lived HS256 access tokens. The algorithm is pinned, and `iss`, `aud`, `exp`, `iat`,
 * `sub` and `sid` are all required. A previous key still verifies during rotation.
 */
export class AccessTokens extends Context.Service<
  AccessTokens,
  {
    readonly issue: (
      userId: UserId,
      sessionId: SessionId,
      role: Role
    ) => Effect.Effect<{ readonly token: string; readonly expiresIn: number }>
    readonly verify: (token: string) => Effect.Effect<AccessClaims, Unauthorized>
    /** Like `verify` but accepts an expired token: to tie a refresh call to its user. */
    readonly verifyIgnoringExpiry: (token: string) => Effect.Effect<AccessClaims, Unauthorized>
  }
>()("parley/server/auth/AccessTokens") {
  static readonly layer = (options: AccessTokenOptions) =>
    Layer.sync(AccessTokens, () => {
      const signingKey = hs256Key(Redacted.value(options.secret))
      const keys = [signingKey, ...Option.toArray(options.previousSecret).map((s) => hs256Key(Redacted.value(s)))]
      const ttlSeconds = Math.round(Duration.toSeconds(options.ttl))
      /** jose parses; the signature is checked here, synchronously (see `hs256.ts`). */
      const payloadOf = (token: string) => {
        if (token.length > maxTokenLength || !signedBy(token, keys)) return undefined
        try {
          const header = decodeProtectedHeader(token)
          return header.alg === "HS256" && header.crit === undefined ? decodeJwt(token) : undefined
        } catch {
          return undefined
        }
      }
      /** The claims of an authentic token for this issuer and audience, whatever the time. */
      const authentic = (token: string): Authentic | undefined => {
        const payload = payloadOf(token)
        if (payload === undefined) return undefined
        const claims = Option.getOrUndefined(decodeClaims(payload))
        if (claims === undefined || claims.iss !== options.issuer) return undefined
        if (claims.aud !== options.audience && !(Array.isArray(claims.aud) && claims.aud.includes(options.audience))) {
          return undefined
        }
        if (payload.nbf !== undefined && typeof payload.nbf !== "number") return undefined
        return { claims, notBefore: payload.nbf ?? 0 }
      }
      // A client presents one token many times (every request, every socket it opens) until it
      // expires: its signature is checked once. Only authentic tokens are kept, so junk cannot
      // fill this; the time checks below run on every use.
      const verified = new Map<string, Authentic>()
      const accepts = (token: string, nowMs: number, ignoreExpiry: boolean) => {
        let found = verified.get(token)
        if (found === undefined) {
          found = authentic(token)
          if (found === undefined) return undefined
          if (verified.size >= verifiedCapacity) verified.delete(verified.keys().next().value!)
          verified.set(token, found)
        }
        const now = Math.floor(nowMs / 1000)
        // Only an authentic token (the signature is checked first) is let through when expired.
        if (!ignoreExpiry && found.claims.exp <= now) return undefined
        if (found.notBefore > now) return undefined
        return found.claims
      }
      const verifyWith = (token: string, ignoreExpiry: boolean) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const claims = accepts(token, now, ignoreExpiry)
          return claims === undefined ? Effect.fail(new Unauthorized()) : Effect.succeed(claims)
        })

      return AccessTokens.of({
        issue: Effect.fn("AccessTokens.issue")(function* (userId: UserId, sessionId: SessionId, role: Role) {
          const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          const token = yield* Effect.promise(() =>
            new SignJWT({ sid: sessionId, role })
              .setProtectedHeader({ alg: "HS256", typ: "JWT" })
              .setSubject(userId)
              .setIssuer(options.issuer)
              .setAudience(options.audience)
              .setIssuedAt(now)
              .setExpirationTime(now + ttlSeconds)
              .sign(signingKey)
          )
          return { token, expiresIn: ttlSeconds }
        }),
        verify: (token) => verifyWith(token, false),
        verifyIgnoringExpiry: (token) => verifyWith(token, true)
      })
    })
}
