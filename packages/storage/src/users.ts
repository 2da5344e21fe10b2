import type { EmailRegistered, Role, SessionId, UserId, UsernameTaken } from "@parley/domain"
import { Context, type Effect, type Option } from "effect"
import type { StorageError } from "./errors.ts"
import type { Page } from "./rooms.ts"
import type { SessionRecord } from "./sessions.ts"

/** A stored account. Times are epoch milliseconds. */
export interface UserRecord {
  readonly id: UserId
  readonly username: string
  readonly email: string
  readonly passwordHash: string
  readonly role: Role
  readonly disabled: boolean
  readonly createdAt: number
  readonly updatedAt: number
}

/** A user, and one of their sessions (none when there is no such session or it is another user's). */
export interface UserWithSession {
  readonly user: UserRecord
  readonly session: Option.Option<SessionRecord>
}

/** Usernames and emails are unique regardless of case and surrounding space. */
export const usernameKey = (username: string) => username.trim().toLowerCase()
export const emailKey = (email: string) => email.trim().toLowerCase()

export class Users extends Context.Service<
  Users,
  {
    /** Reserves username and email, then stores the user; a failure releases both reservations. */
    readonly create: (user: UserRecord) => Effect.Effect<UserRecord, UsernameTaken | EmailRegistered | StorageError>
    readonly findById: (id: UserId) => Effect.Effect<Option.Option<UserRecord>, StorageError>
    /**
     * The user and their session `sessionId`, as `findById` and `Sessions.get` would answer, in
     * one read where the store can join them (SQLite): every authenticated request and
     * WebSocket upgrade asks for both. None when there is no such user.
     */
    readonly findWithSession: (
      id: UserId,
      sessionId: SessionId
    ) => Effect.Effect<Option.Option<UserWithSession>, StorageError>
    readonly findByUsername: (username: string) => Effect.Effect<Option.Option<UserRecord>, StorageError>
    readonly findByEmail: (email: string) => Effect.Effect<Option.Option<UserRecord>, StorageError>
    /**
     * Users in ascending `usernameKey` order, after the key `after`; with `prefix`, only
     * those whose username key starts with it (lowercased). Never a table scan.
     */
    readonly list: (options: {
      readonly prefix: string | null
      readonly after: string | null
      readonly limit: number
    }) => Effect.Effect<Page<UserRecord, string>, StorageError>
    /** Returns false when no such user exists. */
    readonly update: (
      id: UserId,
      changes: { readonly disabled?: boolean; readonly role?: Role; readonly passwordHash?: string },
      now: number
    ) => Effect.Effect<boolean, StorageError>
  }
>()("parley/storage/Users") {}
