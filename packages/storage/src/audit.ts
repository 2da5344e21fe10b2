import type { AuditAction, MessageId, UserId } from "@parley/domain"
import { Context, type Effect } from "effect"
import type { StorageError } from "./errors.ts"

/** One admin action. `id` is a TIMEUUID minted when it happened; `at` is epoch ms. */
export interface AuditRecord {
  readonly id: MessageId
  readonly at: number
  /** Null for an operator action on the server's machine (the first-admin bootstrap). */
  readonly actorId: UserId | null
  readonly actor: string
  readonly action: AuditAction
  readonly targetType: "user" | "session" | "room"
  readonly targetId: string
  readonly detail: string | null
  readonly requestId: string | null
}

/** The admin audit log: append-only, read newest first. */
export class AuditLog extends Context.Service<
  AuditLog,
  {
    readonly append: (record: AuditRecord) => Effect.Effect<void, StorageError>
    /** At most `limit` entries, newest first, strictly older than `before` (a TIMEUUID) when set. */
    readonly list: (options: {
      readonly before: MessageId | null
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<AuditRecord>, StorageError>
  }
>()("parley/storage/AuditLog") {}
