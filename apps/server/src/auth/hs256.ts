/**
 * Signs and verifies compact HS256 JWS (RFC 7515) with `node:crypto`, synchronously. jose does the
 * same through WebCrypto, whose HMAC is an asynchronous job on the thread pool: a fifth of a
 * WebSocket upgrade's CPU on the event loop went to scheduling it and back (BENCHMARKS.md).
 * Only what Parley issues is accepted: `alg` exactly HS256, no `crit` extensions, a 32-byte
 * signature, a JSON object payload. Claims are checked by the caller.
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto"

export type Hs256Key = KeyObject

export const hs256Key = (secret: string): Hs256Key => createSecretKey(Buffer.from(secret, "utf8"))

const encodedHeader = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url")

const base64url = /^[A-Za-z0-9_-]+$/

const jsonObject = (part: string): Record<string, unknown> | null => {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"))
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null
  } catch {
    return null
  }
}

/** The payload, if `token` is signed by one of `keys`; `null` for anything else. */
export const verifyHs256 = (token: string, keys: ReadonlyArray<Hs256Key>): Record<string, unknown> | null => {
  const parts = token.split(".")
  if (parts.length !== 3) return null
  const [header, payload, signature] = parts as [string, string, string]
  if (!base64url.test(header) || !base64url.test(payload) || !base64url.test(signature)) return null
  const protectedHeader = jsonObject(header)
  if (protectedHeader === null || protectedHeader.alg !== "HS256" || "crit" in protectedHeader) return null
  const given = Buffer.from(signature, "base64url")
  if (given.length !== 32) return null
  const signingInput = `${header}.${payload}`
  const signed = keys.some((key) => timingSafeEqual(createHmac("sha256", key).update(signingInput).digest(), given))
  return signed ? jsonObject(payload) : null
}

/** A compact JWS of `payload`, with the header `{"alg":"HS256","typ":"JWT"}`. */
export const signHs256 = (payload: Record<string, unknown>, key: Hs256Key): string => {
  const signingInput = `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`
  return `${signingInput}.${createHmac("sha256", key).update(signingInput).digest("base64url")}`
}
