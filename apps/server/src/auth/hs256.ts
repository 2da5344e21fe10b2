/**
 * The HS256 signature check of an access token, with `node:crypto`, synchronously. jose's own
 * verification goes through WebCrypto, whose HMAC is an asynchronous job on the thread pool:
 * scheduling it and resuming after cost the event loop 200 µs per WebSocket upgrade, many
 * times the HMAC itself. jose still signs tokens and parses them (`access-tokens.ts`).
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto"

export type Hs256Key = KeyObject

export const hs256Key = (secret: string): Hs256Key => createSecretKey(Buffer.from(secret, "utf8"))

const base64url = /^[A-Za-z0-9_-]+$/

/** Whether `token` is a compact JWS signed over its header and payload by one of `keys` (HS256). */
export const signedBy = (token: string, keys: ReadonlyArray<Hs256Key>): boolean => {
  const parts = token.split(".")
  if (parts.length !== 3) return false
  const [header, payload, signature] = parts as [string, string, string]
  // Node's decoder skips characters outside the alphabet: such a signature would pass as another.
  if (!base64url.test(signature)) return false
  const given = Buffer.from(signature, "base64url")
  if (given.length !== 32) return false
  const signingInput = `${header}.${payload}`
  return keys.some((key) => timingSafeEqual(createHmac("sha256", key).update(signingInput).digest(), given))
}
