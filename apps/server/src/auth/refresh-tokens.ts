import { createHash, createHmac, randomBytes } from "node:crypto"

/** 256 random bits, base64url: what the client holds. Only its hash is ever stored. */
export const newRefreshToken = (): string => randomBytes(32).toString("base64url")

export const hashRefreshToken = (token: string): string => createHash("sha256").update(token).digest("hex")

/**
 * The key successors are derived with, from a signing secret. The label keeps it apart from
 * the JWT key made of the same secret: neither can stand in for the other.
 */
export const rotationKey = (secret: string): Buffer =>
  createHmac("sha256", secret).update("parley/refresh-token-successor/v1").digest()

/**
 * The token that replaces `presented` at rotation: HMAC-SHA256(key, presented), base64url,
 * the same shape as `newRefreshToken`. Every refresh of one token computes the same
 * successor, so a retry within the grace window can be handed the token its first attempt
 * got without that token ever being stored. Without the key it is as unguessable as a
 * random one.
 */
export const successorToken = (key: Buffer, presented: string): string =>
  createHmac("sha256", key).update(presented).digest("base64url")
