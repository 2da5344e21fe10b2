import type { SessionId, UserId } from "@parley/domain"
import { Effect, Layer, Option } from "effect"
import { type SessionRecord, Sessions } from "../sessions.ts"
import { SqliteDatabase } from "./database.ts"

export interface SessionRow {
  readonly id: string
  readonly user_id: string
  readonly current_hash: string
  readonly created_at: number
  readonly last_used_at: number
  readonly expires_at: number
  readonly revoked: number
  readonly user_agent: string | null
  readonly ip: string | null
  readonly previous_hash: string | null
  readonly rotated_at: number | null
}

export const toSessionRecord = (row: SessionRow): SessionRecord => ({
  id: row.id as SessionId,
  userId: row.user_id as UserId,
  currentHash: row.current_hash,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  expiresAt: row.expires_at,
  revoked: row.revoked === 1,
  userAgent: row.user_agent,
  ip: row.ip,
  ...(row.previous_hash !== null && row.rotated_at !== null
    ? { rotation: { previousHash: row.previous_hash, at: row.rotated_at } }
    : {})
})

const columns = "id, user_id, current_hash, created_at, last_used_at, expires_at, revoked, user_agent, ip"
export const readColumns = `${columns}, previous_hash, rotated_at`

export const SqliteSessions = Layer.effect(
  Sessions,
  Effect.gen(function* () {
    const db = yield* SqliteDatabase
    return Sessions.of({
      create: (s) =>
        db.transaction("sessions.create", (tx) => {
          tx.prepare(`INSERT INTO sessions (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
            s.id,
            s.userId,
            s.currentHash,
            s.createdAt,
            s.lastUsedAt,
            s.expiresAt,
            s.revoked ? 1 : 0,
            s.userAgent,
            s.ip
          )
          tx.prepare(
            "INSERT INTO refresh_tokens (token_hash, session_id, user_id, expires_at) VALUES (?, ?, ?, ?)"
          ).run(s.currentHash, s.id, s.userId, s.expiresAt)
        }),
      get: (id) =>
        db
          .get<SessionRow>("sessions.get", `SELECT ${readColumns} FROM sessions WHERE id = ?`, id)
          .pipe(Effect.map((row) => Option.map(Option.fromUndefinedOr(row), toSessionRecord))),
      findByTokenHash: (hash) =>
        db
          .get<{ session_id: string; user_id: string; expires_at: number }>(
            "sessions.findByTokenHash",
            "SELECT session_id, user_id, expires_at FROM refresh_tokens WHERE token_hash = ?",
            hash
          )
          .pipe(
            Effect.map((row) =>
              row === undefined || row.expires_at <= Date.now()
                ? Option.none()
                : Option.some({ sessionId: row.session_id as SessionId, userId: row.user_id as UserId })
            )
          ),
      rotate: ({ session, fromHash, toHash, now }) =>
        db.transaction("sessions.rotate", (tx) => {
          const changed = tx
            .prepare(
              "UPDATE sessions SET current_hash = ?, previous_hash = ?, rotated_at = ?, last_used_at = ? WHERE id = ? AND current_hash = ? AND revoked = 0"
            )
            .run(toHash, fromHash, now, now, session.id, fromHash).changes
          if (Number(changed) !== 1) return false
          tx.prepare(
            "INSERT INTO refresh_tokens (token_hash, session_id, user_id, expires_at) VALUES (?, ?, ?, ?)"
          ).run(toHash, session.id, session.userId, session.expiresAt)
          return true
        }),
      revoke: (id) => db.run("sessions.revoke", "UPDATE sessions SET revoked = 1 WHERE id = ?", id).pipe(Effect.asVoid),
      listByUser: (userId) =>
        db
          .all<SessionRow>(
            "sessions.listByUser",
            `SELECT ${readColumns} FROM sessions WHERE user_id = ? ORDER BY created_at DESC`,
            userId
          )
          .pipe(Effect.map((rows) => rows.map(toSessionRecord)))
    })
  })
)
