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
  /** Set only on a direct room (always private): its two users, both members, in stored order. */
  readonly direct?: DirectPair
}

/** One of a direct room's users, with the username the other one sees the room named by. */
export interface DirectUser {
  readonly id: UserId
  readonly username: string
}

/** A direct room's two users, the lower user id first: the order the pair is keyed by. */
export type DirectPair = readonly [DirectUser, DirectUser]

/** `a` and `b` in stored order, whichever of the two asks, so both find one pair. */
export const directPair = (a: DirectUser, b: DirectUser): DirectPair => (a.id < b.id ? [a, b] : [b, a])

export interface MembershipRecord {
  readonly roomId: RoomId
  readonly userId: UserId
  readonly role: MemberRole
  readonly joinedAt: number
}

/** A room, and one user's membership of it (none when not a member). */
export interface RoomWithMembership {
  readonly room: RoomRecord
  readonly membership: Option.Option<MembershipRecord>
}

/** A read marker after `Rooms.markRead`: where it is, and whether that call moved it there. */
export interface ReadMarkerMove {
  readonly seq: number
  readonly moved: boolean
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
    /** The direct room of two users, named in either order, if they have one. */
    readonly findDirect: (a: UserId, b: UserId) => Effect.Effect<Option.Option<RoomRecord>, StorageError>
    /**
     * Stores `room` as the direct room of the users in `room.direct` (taken in either order),
     * both of them members (`member`, joined at `createdAt`), unless the pair has one already:
     * then that room is returned and `room` is dropped. However many ask at once, from either
     * side, every call answers with the one room the pair has.
     */
    readonly createDirect: (
      room: RoomRecord & { readonly direct: DirectPair }
    ) => Effect.Effect<RoomRecord, StorageError>
    readonly membership: (
      roomId: RoomId,
      userId: UserId
    ) => Effect.Effect<Option.Option<MembershipRecord>, StorageError>
    /**
     * The room and `userId`'s membership of it, as `get` and `membership` would answer, in one
     * read where the store can join them (SQLite): every upgrade into a room and every
     * access check asks for both. None when there is no such room.
     */
    readonly getWithMembership: (
      roomId: RoomId,
      userId: UserId
    ) => Effect.Effect<Option.Option<RoomWithMembership>, StorageError>
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
    /**
     * A user's rooms with their role and read marker (`readSeq`, 0 when never set), oldest
     * room first, after `after`. The marker comes with the listing row: no read per room.
     */
    readonly listForUser: (
      userId: UserId,
      options: { readonly after: RoomId | null; readonly limit: number }
    ) => Effect.Effect<
      Page<{ readonly room: RoomRecord; readonly role: MemberRole; readonly readSeq: number }, RoomId>,
      StorageError
    >
    /**
     * Moves a member's read marker (the last `seq` they have read) forward to `seq`; a lower
     * `seq` leaves it where it is. Returns the marker after the call and whether this call moved
     * it, or none when the user is not a member (nothing is written). The caller clamps `seq` to
     * the room's head.
     */
    readonly markRead: (
      roomId: RoomId,
      userId: UserId,
      seq: number
    ) => Effect.Effect<Option.Option<ReadMarkerMove>, StorageError>
    /** A member's read marker (0 when never set); none when not a member. */
    readonly readMarker: (roomId: RoomId, userId: UserId) => Effect.Effect<Option.Option<number>, StorageError>
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
