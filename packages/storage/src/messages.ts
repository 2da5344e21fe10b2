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

/**
 * A room's message history. On Cassandra it is partitioned by fixed time windows of the
 * message id (see `cql/002_chat.cql`), so pages never read an unbounded partition.
 */
export class Messages extends Context.Service<
  Messages,
  {
    /**
     * Stores a batch of one room's messages (a group commit) with their `clientMsgId`
     * entries and the room's head, all or nothing. Only after this succeeds may any of them
     * be acknowledged. Within the batch, and after everything stored before, `seq` and `id`
     * must increase.
     *
     * The caller guarantees that no `clientMsgId` is already stored for its (room, user):
     * the room actor asks `findByClientMsgId` first. A duplicate is a caller bug; SQLite
     * fails the whole batch, Cassandra (which cannot check without a read) overwrites the
     * entry. Keep batches small: Cassandra refuses a batch above `batch_size_fail_threshold`
     * (50 KiB by default) and every message with a `clientMsgId` is written twice.
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
     * At most `limit` messages, newest first, strictly older than `before` (or from the
     * newest when null). `before` need not be a stored id: any TIMEUUID is a position.
     */
    readonly listBefore: (
      roomId: RoomId,
      options: { readonly before: MessageId | null; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<MessageRecord>, StorageError>
    /**
     * At most `limit` messages, oldest first, strictly newer than `after` (or from the
     * room's first message when null).
     */
    readonly listAfter: (
      roomId: RoomId,
      options: { readonly after: MessageId | null; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<MessageRecord>, StorageError>
  }
>()("parley/storage/Messages") {}
