import type { SQLInputValue } from "node:sqlite"
import { EmailRegistered, type Role, type UserId, UsernameTaken } from "@parley/domain"
import { Effect, Layer, Option } from "effect"
import { toPage } from "../page.ts"
import { prefixRange } from "../text-keys.ts"
import { emailKey, type UserRecord, Users, type UserWithSession, usernameKey } from "../users.ts"
import { SqliteDatabase } from "./database.ts"
import { type SessionRow, readColumns as sessionColumnList, toSessionRecord } from "./sessions.ts"

interface UserRow {
  readonly id: string
  readonly username: string
  readonly email: string
  readonly password_hash: string
  readonly role: string
  readonly disabled: number
  readonly created_at: number
  readonly updated_at: number
}

type KeyedRow = UserRow & { readonly username_key: string }

const toRecord = (row: UserRow): UserRecord => ({
  id: row.id as UserId,
  username: row.username,
  email: row.email,
  passwordHash: row.password_hash,
  role: row.role as Role,
  disabled: row.disabled === 1,
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

const columns = "id, username, email, password_hash, role, disabled, created_at, updated_at"

/** The session's columns as `findWithSession` selects them, each under an `s_` alias. */
const sessionAliases = sessionColumnList.split(", ").map((c) => [c, `s_${c}`] as const)

/** A user's row with one session's columns beside it (all null when there is no such session of theirs). */
type UserSessionRow = UserRow & { readonly [alias: `s_${string}`]: unknown }

const toUserWithSession = (row: UserSessionRow): UserWithSession => {
  if (row.s_id === null) return { user: toRecord(row), session: Option.none() }
  const session: Record<string, unknown> = {}
  for (const [column, alias] of sessionAliases) session[column] = row[alias]
  return { user: toRecord(row), session: Option.some(toSessionRecord(session as unknown as SessionRow)) }
}

/** The listings, from the unique index on `username_key`, and the user with a session, by keys (the query-plan test checks). */
export const queries = {
  findWithSession: `SELECT ${columns.replace(/(^|, )/g, "$1u.")}, ${sessionAliases.map(([c, alias]) => `s.${c} AS ${alias}`).join(", ")}
    FROM users u LEFT JOIN sessions s ON s.id = ? AND s.user_id = u.id WHERE u.id = ?`,
  listUsers: `SELECT ${columns}, username_key FROM users WHERE username_key > ? ORDER BY username_key LIMIT ?`,
  searchUsers: `SELECT ${columns}, username_key FROM users
    WHERE username_key >= ? AND username_key > ? AND username_key < ? ORDER BY username_key LIMIT ?`
} as const

export const SqliteUsers = Layer.effect(
  Users,
  Effect.gen(function* () {
    const db = yield* SqliteDatabase
    const findOne = (operation: string, where: string, value: string) =>
      db
        .get<UserRow>(operation, `SELECT ${columns} FROM users WHERE ${where} = ?`, value)
        .pipe(Effect.map((row) => Option.map(Option.fromUndefinedOr(row), toRecord)))

    return Users.of({
      // BEGIN IMMEDIATE serializes writers, so check-then-insert cannot race.
      create: Effect.fn("Users.create")(function* (user: UserRecord) {
        const outcome = yield* db.transaction("users.create", (tx) => {
          if (tx.prepare("SELECT 1 FROM users WHERE username_key = ?").get(usernameKey(user.username))) {
            return "username_taken" as const
          }
          if (tx.prepare("SELECT 1 FROM users WHERE email_key = ?").get(emailKey(user.email))) {
            return "email_registered" as const
          }
          tx.prepare(
            `INSERT INTO users (id, username, username_key, email, email_key, password_hash, role, disabled, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
          ).run(
            user.id,
            user.username,
            usernameKey(user.username),
            user.email,
            emailKey(user.email),
            user.passwordHash,
            user.role,
            user.disabled ? 1 : 0,
            user.createdAt,
            user.updatedAt
          )
          return "created" as const
        })
        if (outcome === "username_taken") return yield* new UsernameTaken()
        if (outcome === "email_registered") return yield* new EmailRegistered()
        return user
      }),
      findById: (id) => findOne("users.findById", "id", id),
      findWithSession: (id, sessionId) =>
        db
          .get<UserSessionRow>("users.findWithSession", queries.findWithSession, sessionId, id)
          .pipe(Effect.map((row) => Option.map(Option.fromUndefinedOr(row), toUserWithSession))),
      list: ({ prefix, after, limit }) => {
        const key = prefix === null ? "" : usernameKey(prefix)
        const range = prefixRange(key)
        // The empty string sorts before every key: "after ''" is the first page.
        const rows =
          key === ""
            ? db.all<KeyedRow>("users.list", queries.listUsers, after ?? "", limit + 1)
            : range === null
              ? Effect.succeed([])
              : db.all<KeyedRow>("users.list", queries.searchUsers, range.start, after ?? "", range.end, limit + 1)
        return rows.pipe(
          Effect.map((rows) => {
            const page = toPage(rows, limit, (row) => row.username_key)
            return { items: page.items.map(toRecord), next: page.next }
          })
        )
      },
      findByUsername: (username) => findOne("users.findByUsername", "username_key", usernameKey(username)),
      findByEmail: (email) => findOne("users.findByEmail", "email_key", emailKey(email)),
      // Only the columns asked for: writing back the others as read would undo a concurrent
      // change to them (a role change re-enabling a user just disabled).
      update: Effect.fn("Users.update")(function* (id, changes, now) {
        const set: Array<[column: string, value: SQLInputValue]> = []
        if (changes.disabled !== undefined) set.push(["disabled", changes.disabled ? 1 : 0])
        if (changes.role !== undefined) set.push(["role", changes.role])
        if (changes.passwordHash !== undefined) set.push(["password_hash", changes.passwordHash])
        set.push(["updated_at", now])
        const changed = yield* db.run(
          "users.update",
          `UPDATE users SET ${set.map(([column]) => `${column} = ?`).join(", ")} WHERE id = ?`,
          ...set.map(([, value]) => value),
          id
        )
        return changed > 0
      })
    })
  })
)
