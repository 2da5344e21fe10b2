import type { webcrypto } from "node:crypto"
import { Role, SessionId, Unauthorized, UserId } from "@parley/domain"
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { errors as JoseErrors, type JWTPayload, jwtVerify, SignJWT } from "jose"

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

/** Real tokens are ~300 bytes; refuse anything huge before doing any crypto on it. */
const maxTokenLength = 4096

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
    Layer.effect(
      AccessTokens,
      Effect.gen(function* () {
        // Imported once: handed raw bytes, jose imports the key again on every call (a third of a verify's cost).
        const importKey = (secret: Redacted.Redacted<string>) =>
          Effect.promise(() =>
            crypto.subtle.importKey(
              "raw",
              new TextEncoder().encode(Redacted.value(secret)),
              { name: "HMAC", hash: "SHA-256" },
              false,
              ["sign", "verify"]
            )
          )
        const signingKey = yield* importKey(options.secret)
        const keys = [signingKey, ...(yield* Effect.forEach(Option.toArray(options.previousSecret), importKey))]
        const ttlSeconds = Math.round(Duration.toSeconds(options.ttl))
        const decodeClaims = Schema.decodeUnknownEffect(AccessClaims)

        const verifyWith = (token: string, ignoreExpiry: boolean) =>
          Effect.gen(function* () {
            if (token.length > maxTokenLength) return yield* new Unauthorized()
            const now = yield* Clock.currentTimeMillis
            const payload = yield* Effect.tryPromise({
              try: () => verifyWithAnyKey(token, keys, { ...options, currentDate: new Date(now), ignoreExpiry }),
              catch: () => new Unauthorized()
            })
            return yield* decodeClaims(payload).pipe(Effect.mapError(() => new Unauthorized()))
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
    )
}

const verifyWithAnyKey = async (
  token: string,
  keys: ReadonlyArray<webcrypto.CryptoKey>,
  options: { issuer: string; audience: string; currentDate: Date; ignoreExpiry: boolean }
): Promise<JWTPayload> => {
  let lastError: unknown
  for (const key of keys) {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: ["HS256"],
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ["iss", "aud", "sub", "iat", "exp"],
        currentDate: options.currentDate
      })
      return payload
    } catch (error) {
      // jose checks the signature before the claims, so an expired token's payload is
      // authentic; issuer and audience are re-checked here because jose may stop at `exp`.
      if (
        options.ignoreExpiry &&
        error instanceof JoseErrors.JWTExpired &&
        error.payload.iss === options.issuer &&
        (error.payload.aud === options.audience ||
          (Array.isArray(error.payload.aud) && error.payload.aud.includes(options.audience)))
      ) {
        return error.payload
      }
      lastError = error
      if (!(error instanceof JoseErrors.JWSSignatureVerificationFailed)) break
    }
  }
  throw lastError
}
