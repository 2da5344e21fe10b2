import type { SessionId, UserId } from "@parley/domain"
import { Context, type Effect, type Option } from "effect"
import type { StorageError } from "./errors.ts"

/**
 * A login session is one refresh-token family. Only SHA-256 hashes (hex) of refresh
 * tokens are stored; `currentHash` is the one live token, every earlier one is a replay,
 * except the one just replaced, for a short grace window after `rotation.at` (a client
 * retrying the same refresh; the server decides, see `Accounts`).
 */
export interface SessionRecord {
  readonly id: SessionId
  readonly userId: UserId
  readonly currentHash: string
  readonly createdAt: number
  readonly lastUsedAt: number
  /** Absolute end of the session, however often it is refreshed. */
  readonly expiresAt: number
  readonly revoked: boolean
  readonly userAgent: string | null
  readonly ip: string | null
  /** The latest rotation: the hash it replaced and when. Absent until the session first rotates. */
  readonly rotation?: SessionRotation
}

export interface SessionRotation {
  readonly previousHash: string
  readonly at: number
}

export class Sessions extends Context.Service<
  Sessions,
  {
    readonly create: (session: SessionRecord) => Effect.Effect<void, StorageError>
    readonly get: (id: SessionId) => Effect.Effect<Option.Option<SessionRecord>, StorageError>
    /** Which session issued this token hash, current or rotated; none once the session expired. */
    readonly findByTokenHash: (
      hash: string
    ) => Effect.Effect<Option.Option<{ readonly sessionId: SessionId; readonly userId: UserId }>, StorageError>
    /**
     * Atomically replaces `fromHash` by `toHash` if `fromHash` is still current and the
     * session is not revoked, recording `{ previousHash: fromHash, at: now }` as its
     * `rotation`. Of concurrent rotations of one token, exactly one returns true.
     */
    readonly rotate: (options: {
      readonly session: SessionRecord
      readonly fromHash: string
      readonly toHash: string
      readonly now: number
    }) => Effect.Effect<boolean, StorageError>
    readonly revoke: (id: SessionId) => Effect.Effect<void, StorageError>
    readonly listByUser: (userId: UserId) => Effect.Effect<ReadonlyArray<SessionRecord>, StorageError>
  }
>()("parley/storage/Sessions") {}
