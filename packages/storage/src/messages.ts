import type { MessageId, MessageKind, RoomId, UserId } from "@parley/domain"
import { Context, type Effect, type Option } from "effect"
import type { ClientMsgIdStored, StaleWrite, StorageError } from "./errors.ts"

/**
 * A stored entry of a room's stream. `id` is a TIMEUUID minted by the room's actor: within a
 * room, ids and `seq` increase together, so either one orders history.
 *
 * Most entries are messages. An edit or a delete is an entry of its own (`kind`, `targetId`):
 * `userId`/`username` are who edited or deleted, `text` the new text ("" for a delete),
 * `createdAt` when. Appending one also updates its target's row in the same write, so a
 * message row always holds its current state: its latest text and `editedAt`, or "" and
 * `deletedBy` once deleted (the row stays: `seq` has no gaps).
 */
export interface MessageRecord {
  readonly roomId: RoomId
  readonly id: MessageId
  readonly seq: number
  readonly kind: MessageKind
  /** Edits and deletes: the message they change; null for a message. */
  readonly targetId: MessageId | null
  readonly userId: UserId
  readonly username: string
  readonly text: string
  /** The sender's idempotency key, unique per (room, user) when set. */
  readonly clientMsgId: string | null
  readonly createdAt: number
  /** A message's latest edit (epoch ms); null if never edited, and on edits and deletes. */
  readonly editedAt: number | null
  /** Who deleted a message (its `text` is then ""); null otherwise. */
  readonly deletedBy: UserId | null
  /**
   * Not stored. Set by `find` on Cassandra: the key of the partition holding the row. The
   * caller passes it back as an edit's or delete's `targetPartition`.
   */
  readonly partition?: number | undefined
  /**
   * Not stored. On an edit or delete being appended: its target's `partition` as `find`
   * returned it, so Cassandra writes the target without reading where it lies. When absent,
   * Cassandra takes the live partition if the target is recent enough to lie there, and
   * otherwise looks its partition up.
   */
  readonly targetPartition?: number | undefined
}

/** The fields of a plain message (not an edit or a delete), for building records. */
export const plainMessage = { kind: "message", targetId: null, editedAt: null, deletedBy: null } as const

/**
 * A message as it stands after `change` (an edit or a delete of it): what `append` writes
 * into the target's row, and what a holder of the message applies to its copy.
 */
export const applyChange = (target: MessageRecord, change: MessageRecord): MessageRecord => {
  const { partition: _, ...stored } = target
  return change.kind === "delete"
    ? { ...stored, text: "", deletedBy: change.userId }
    : change.kind === "edit"
      ? { ...stored, text: change.text, editedAt: change.createdAt }
      : stored
}

/** A sender's client id, which names at most one stored message of a room. */
export interface ClientMsgKey {
  readonly userId: UserId
  readonly clientMsgId: string
}

/** A key as one string, to find what storage returned by (`user/clientMsgId`). */
export const clientMsgKeyName = (k: ClientMsgKey): string => `${k.userId}/${k.clientMsgId}`

/** Each key once (a retry may share a group commit with its first attempt). */
export const distinctClientMsgKeys = (keys: ReadonlyArray<ClientMsgKey>): ReadonlyArray<ClientMsgKey> =>
  keys.length < 2 ? keys : [...new Map(keys.map((k) => [clientMsgKeyName(k), k])).values()]

/**
 * What a writer shows with every append: the epoch its `claim` returned, and the `seq` of the
 * newest message it knows is stored (0 for an empty room). Storage refuses the append unless
 * both still hold, so a deposed writer or one continuing from a stale head stores nothing.
 *
 * After any failed append the writer must `claim` again before its next one: a failed
 * append's outcome may be unknown, and on Cassandra a commit that timed out may still be
 * queued at the coordinator and apply after the failure was reported. The new claim deposes
 * that late write (it is refused, or shadowed: never read) or, if it landed first, repairs its
 * batch and continues after it; either way no `seq` is given twice.
 */
export interface Fence {
  readonly epoch: number
  readonly afterSeq: number
}

/** A room's head as `claim` took it over. */
export interface Claim {
  /** The new owner epoch: every append must carry it, and any older one is refused from now on. */
  readonly epoch: number
  /** The newest stored message's `seq` and id; 0 and null for an empty room. */
  readonly lastSeq: number
  readonly lastId: MessageId | null
  /**
   * The newest batch, whose index row or changes to older messages a crash may have cut
   * short (Cassandra writes them after the batch that stores the rows). The claim has
   * (re)written them; the new owner broadcasts the batch again (subscribers drop what
   * they already have) and answers its retries. Empty on SQLite, where nothing can be missing.
   */
  readonly repaired: ReadonlyArray<MessageRecord>
}

/**
 * A room's message history. On Cassandra it is partitioned by fixed time windows of the
 * message id (see `cql/002_chat.cql`), so pages never read an unbounded partition.
 */
export class Messages extends Context.Service<
  Messages,
  {
    /**
     * Makes the caller the room's only writer: bumps the room's owner epoch, so appends of
     * any earlier claim fail with `StaleWrite` "deposed" from now on, and returns the head to
     * continue from. A room's actor claims when it starts and after a failed write. On
     * Cassandra, a claim of a room whose owner in another process holds a lease waits for it
     * to run out first (`CASSANDRA_ROOM_LEASE`, `cql/014_room_lease.cql`).
     */
    readonly claim: (roomId: RoomId) => Effect.Effect<Claim, StorageError>
    /**
     * The claim of `epoch` is done with the room in this process (its actor stopped): what
     * storage keeps in memory for it goes (Cassandra: the room's client-id filter), and on
     * Cassandra its lease ends, so the next claim need not wait for it. A later claim's is kept.
     * The next claim builds its own.
     */
    readonly release: (roomId: RoomId, epoch: number) => Effect.Effect<void>
    /**
     * Stores a batch of one room's messages (a group commit) with their `clientMsgId`
     * keys and the room's head, all or nothing, if `fence` still holds: its epoch is the
     * room's newest claim and its `afterSeq` the room's newest stored `seq`; otherwise it
     * fails with `StaleWrite` and stores nothing. Only after this succeeds may any of them
     * be acknowledged. `seq` runs on from `afterSeq + 1` and `id` increases.
     *
     * A `clientMsgId` already stored for its (room, user) is the caller's to rule out
     * (the room actor asks `findByClientMsgIds` first), unless `refusesStoredClientMsgIds`:
     * SQLite then fails the whole batch with `ClientMsgIdStored`, storing nothing, so the
     * caller may append first and read only when refused. Cassandra (which cannot check
     * without a read) stores both rows, and a lookup of the key finds one of them. Keep batches bounded (the room actor's `maxBatchBytes`): on Cassandra the rows go in
     * one single-partition batch, past which `batch_size_fail_threshold` does not apply, but
     * which one mutation (or one Paxos round, when it opens a partition) carries whole.
     *
     * An edit or delete in the batch also updates its target's row (`applyChange`) in the same
     * write, or in the batch itself if the target is in it. The caller has checked that the
     * target is a message of this room and not deleted. On Cassandra a target in an older
     * partition is written right after the commit; the append succeeds only once it has, and
     * the next claim re-applies the newest batch's changes (see `cql/007_edits.cql`).
     */
    readonly append: (
      roomId: RoomId,
      messages: ReadonlyArray<MessageRecord>,
      fence: Fence
    ) => Effect.Effect<void, StorageError | StaleWrite | ClientMsgIdStored>
    /**
     * Whether `append` refuses a batch holding a `clientMsgId` already stored for its (room,
     * user), with `ClientMsgIdStored`. True on SQLite, where a unique index checks it inside the
     * append's transaction for nothing; false on Cassandra.
     */
    readonly refusesStoredClientMsgIds: boolean
    /**
     * The stored row `msgId` of the room, in its current state (a message's latest text, a
     * tombstone), with its `partition` on Cassandra; none if the room has no such row.
     */
    readonly find: (roomId: RoomId, msgId: MessageId) => Effect.Effect<Option.Option<MessageRecord>, StorageError>
    /** The message a (room, user, clientMsgId) was stored as, if any. */
    readonly findByClientMsgId: (
      roomId: RoomId,
      userId: UserId,
      clientMsgId: string
    ) => Effect.Effect<Option.Option<MessageRecord>, StorageError>
    /**
     * `findByClientMsgId` for many senders' ids of one room at once (a group commit's retries
     * check), in one round trip: the messages found, in no particular order.
     */
    readonly findByClientMsgIds: (
      roomId: RoomId,
      keys: ReadonlyArray<ClientMsgKey>
    ) => Effect.Effect<ReadonlyArray<MessageRecord>, StorageError>
    /** The room's newest stored message (for readers; a writer takes the head with `claim`). */
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
