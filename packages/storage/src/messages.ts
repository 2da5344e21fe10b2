import type { MessageId, RoomId, UserId } from "@parley/domain"
import { Context, type Effect, type Option } from "effect"
import type { StorageError } from "./errors.ts"

/**
 * A stored message. `id` is a TIMEUUID minted by the room's actor: within a room, ids and
 * `seq` increase together, so either one orders history.
 */
export interface MessageRecord {
  readonly roomId: RoomId
  readonly id: MessageId
  readonly seq: number
  readonly userId: UserId
  readonly username: string
  readonly text: string
  /** The sender's idempotency key, unique per (room, user) when set. */
  readonly clientMsgId: string | null
  readonly createdAt: number
}

export class Messages extends Context.Service<
  Messages,
  {
    /**
     * Stores a batch of one room's messages (a group commit) and their `clientMsgId`
     * entries, all or nothing. Only after this succeeds may any of them be acknowledged.
     */
    readonly append: (roomId: RoomId, messages: ReadonlyArray<MessageRecord>) => Effect.Effect<void, StorageError>
    /** The message a (room, user, clientMsgId) was stored as, if any. */
    readonly findByClientMsgId: (
      roomId: RoomId,
      userId: UserId,
      clientMsgId: string
    ) => Effect.Effect<Option.Option<MessageRecord>, StorageError>
    /** The room's newest message: where its actor resumes `seq` and ids. */
    readonly latest: (roomId: RoomId) => Effect.Effect<Option.Option<MessageRecord>, StorageError>
    /**
     * Newest first, strictly older than `before` (or from the newest when null). Never
     * reads buckets before `since` (the room's creation time, ms).
     */
    readonly listBefore: (
      roomId: RoomId,
      options: { readonly before: MessageId | null; readonly limit: number; readonly since: number }
    ) => Effect.Effect<ReadonlyArray<MessageRecord>, StorageError>
    /** Oldest first, strictly newer than `after` (or from the first message when null). */
    readonly listAfter: (
      roomId: RoomId,
      options: { readonly after: MessageId | null; readonly limit: number; readonly since: number }
    ) => Effect.Effect<ReadonlyArray<MessageRecord>, StorageError>
  }
>()("parley/storage/Messages") {}
