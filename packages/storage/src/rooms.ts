import type { MemberRole, RoomId, UserId, Visibility } from "@parley/domain"
import { Context, type Effect, type Option } from "effect"
import type { StorageError } from "./errors.ts"

/** Times are epoch milliseconds. `id` is a TIMEUUID, so rooms sort by creation. */
export interface RoomRecord {
  readonly id: RoomId
  readonly name: string
  readonly visibility: Visibility
  readonly createdBy: UserId
  readonly createdAt: number
  /** Read-only: history stays, new messages are refused. */
  readonly archived: boolean
}

export interface MembershipRecord {
  readonly roomId: RoomId
  readonly userId: UserId
  readonly role: MemberRole
  readonly joinedAt: number
}

/**
 * A page of at most `limit` results in ascending key order; `next` is the key to continue
 * after when more may follow, else null.
 */
export interface Page<A, Cursor> {
  readonly items: ReadonlyArray<A>
  readonly next: Cursor | null
}

/**
 * Rooms and membership. Membership is stored both ways (room → members, user → rooms), so
 * every listing reads one partition; nothing scans.
 */
export class Rooms extends Context.Service<
  Rooms,
  {
    /** Stores the room and makes its creator the owner (joined at `createdAt`), atomically. */
    readonly create: (room: RoomRecord) => Effect.Effect<void, StorageError>
    readonly get: (id: RoomId) => Effect.Effect<Option.Option<RoomRecord>, StorageError>
    readonly membership: (
      roomId: RoomId,
      userId: UserId
    ) => Effect.Effect<Option.Option<MembershipRecord>, StorageError>
    /**
     * Adds or updates a member (both directions). The room must exist (the caller read it to
     * authorize the change); otherwise this fails with StorageError.
     */
    readonly putMember: (member: MembershipRecord) => Effect.Effect<void, StorageError>
    /** Removes a member (both directions); no-op when not a member. */
    readonly removeMember: (roomId: RoomId, userId: UserId) => Effect.Effect<void, StorageError>
    /** Members in ascending user id order, after `after`. */
    readonly listMembers: (
      roomId: RoomId,
      options: { readonly after: UserId | null; readonly limit: number }
    ) => Effect.Effect<Page<MembershipRecord, UserId>, StorageError>
    /** A user's rooms with their role, oldest room first, after `after`. */
    readonly listForUser: (
      userId: UserId,
      options: { readonly after: RoomId | null; readonly limit: number }
    ) => Effect.Effect<Page<{ readonly room: RoomRecord; readonly role: MemberRole }, RoomId>, StorageError>
    /** Every room, private ones too (for operators), oldest first, after `after`. */
    readonly listAll: (options: {
      readonly after: RoomId | null
      readonly limit: number
    }) => Effect.Effect<Page<RoomRecord, RoomId>, StorageError>
    /** Marks the room archived everywhere it is listed; false when no such room. */
    readonly archive: (id: RoomId) => Effect.Effect<boolean, StorageError>
    /**
     * Deletes the room, its memberships (both ways), its listings and its message history;
     * false when no such room. Repeating a delete that failed halfway finishes it.
     */
    readonly delete: (id: RoomId) => Effect.Effect<boolean, StorageError>
    /** The public room directory, oldest first, after `after`. */
    readonly listPublic: (options: {
      readonly after: RoomId | null
      readonly limit: number
    }) => Effect.Effect<Page<RoomRecord, RoomId>, StorageError>
  }
>()("parley/storage/Rooms") {}
