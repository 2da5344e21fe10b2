import { createHash, randomBytes } from "node:crypto"

/** 256 random bits, base64url: what the client holds. Only its hash is ever stored. */
export const newRefreshToken = (): string => randomBytes(32).toString("base64url")

export const hashRefreshToken = (token: string): string => createHash("sha256").update(token).digest("hex")
