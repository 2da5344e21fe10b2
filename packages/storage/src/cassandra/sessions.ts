import type { SessionId, UserId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Effect, Layer, Option } from "effect"
import { type SessionRecord, Sessions } from "../sessions.ts"
import { CassandraClient, isUnknownOutcome, serialRead, uuid } from "./client.ts"

const columns = "session_id, user_id, current_hash, created_at, last_used_at, expires_at, revoked, user_agent, ip"
const readColumns = `${columns}, previous_hash, rotated_at`

const rotationOf = (row: cassandra.types.Row) => {
  const previousHash: string | null = row.get("previous_hash") ?? null
  const at: Date | null = row.get("rotated_at") ?? null
  return previousHash !== null && at !== null ? { rotation: { previousHash, at: at.getTime() } } : {}
}

const toRecord = (row: cassandra.types.Row): SessionRecord => ({
  id: row.get("session_id").toString() as SessionId,
  userId: row.get("user_id").toString() as UserId,
  currentHash: row.get("current_hash"),
  createdAt: (row.get("created_at") as Date).getTime(),
  lastUsedAt: (row.get("last_used_at") as Date).getTime(),
  expiresAt: (row.get("expires_at") as Date).getTime(),
  revoked: row.get("revoked") === true,
  userAgent: row.get("user_agent") ?? null,
  ip: row.get("ip") ?? null,
  ...rotationOf(row)
})

/** One session by id (its row expires with it: no row once expired). */
export const readSession = (db: CassandraClient["Service"], id: SessionId, options?: cassandra.QueryOptions) =>
  db
    .execute("sessions.get", `SELECT ${readColumns} FROM sessions WHERE session_id = ?`, [uuid(id)], options)
    .pipe(Effect.map((rs) => Option.map(Option.fromNullishOr(rs.first()), toRecord)))

/** Every row of a session expires with it (TTL in whole seconds, at least 1). */
const ttlUntil = (expiresAt: number, now: number) => Math.max(1, Math.ceil((expiresAt - now) / 1000))

export const CassandraSessions = Layer.effect(
  Sessions,
  Effect.gen(function* () {
    const db = yield* CassandraClient

    const get = (id: SessionId, options?: cassandra.QueryOptions) => readSession(db, id, options)

    const insertToken = (hash: string, s: SessionRecord, now: number) => ({
      query: "INSERT INTO refresh_tokens (token_hash, session_id, user_id) VALUES (?, ?, ?) USING TTL ?",
      params: [hash, uuid(s.id), uuid(s.userId), ttlUntil(s.expiresAt, now)]
    })

    return Sessions.of({
      create: (s) => {
        const ttl = ttlUntil(s.expiresAt, s.createdAt)
        return db.batch("sessions.create", [
          {
            query: `INSERT INTO sessions (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
            params: [
              uuid(s.id),
              uuid(s.userId),
              s.currentHash,
              new Date(s.createdAt),
              new Date(s.lastUsedAt),
              new Date(s.expiresAt),
              s.revoked,
              s.userAgent,
              s.ip,
              ttl
            ]
          },
          {
            query: "INSERT INTO sessions_by_user (user_id, session_id, created_at) VALUES (?, ?, ?) USING TTL ?",
            params: [uuid(s.userId), uuid(s.id), new Date(s.createdAt), ttl]
          },
          insertToken(s.currentHash, s, s.createdAt)
        ])
      },
      get: (id) => get(id),
      findByTokenHash: (hash) =>
        db
          .execute("sessions.findByTokenHash", "SELECT session_id, user_id FROM refresh_tokens WHERE token_hash = ?", [
            hash
          ])
          .pipe(
            Effect.map((rs) =>
              Option.map(Option.fromNullishOr(rs.first()), (row) => ({
                sessionId: row.get("session_id").toString() as SessionId,
                userId: row.get("user_id").toString() as UserId
              }))
            )
          ),
      rotate: Effect.fn("Sessions.rotate")(function* ({ session, fromHash, toHash, now }) {
        // The successor's hash is recorded first, so a winning CAS never points at a missing token.
        const token = insertToken(toHash, session, now)
        yield* db.execute("sessions.rotate.token", token.query, token.params)
        return yield* db
          .execute(
            "sessions.rotate",
            "UPDATE sessions USING TTL ? SET current_hash = ?, previous_hash = ?, rotated_at = ?, last_used_at = ? WHERE session_id = ? IF current_hash = ? AND revoked = false",
            [
              ttlUntil(session.expiresAt, now),
              toHash,
              fromHash,
              new Date(now),
              new Date(now),
              uuid(session.id),
              fromHash
            ]
          )
          .pipe(
            Effect.map((rs) => rs.wasApplied()),
            // Concurrent rotations of one token may carry the same successor (Accounts derives
            // it): `at` tells this write from another one's, short of a tie to the millisecond.
            Effect.catchIf(isUnknownOutcome, () =>
              get(session.id, serialRead).pipe(
                Effect.map(
                  (s) =>
                    Option.isSome(s) &&
                    s.value.currentHash === toHash &&
                    s.value.rotation?.at === now &&
                    !s.value.revoked
                )
              )
            )
          )
      }),
      revoke: Effect.fn("Sessions.revoke")(function* (id) {
        const session = yield* get(id)
        if (Option.isNone(session)) return
        const now = Date.now()
        yield* db.execute("sessions.revoke", "UPDATE sessions USING TTL ? SET revoked = true WHERE session_id = ?", [
          ttlUntil(session.value.expiresAt, now),
          uuid(id)
        ])
      }),
      listByUser: Effect.fn("Sessions.listByUser")(function* (userId) {
        const rs = yield* db.execute(
          "sessions.listByUser",
          "SELECT session_id FROM sessions_by_user WHERE user_id = ?",
          [uuid(userId)]
        )
        const sessions = yield* Effect.forEach(rs.rows, (row) => get(row.get("session_id").toString() as SessionId), {
          concurrency: 8
        })
        return sessions.flatMap(Option.toArray).sort((a, b) => b.createdAt - a.createdAt)
      })
    })
  })
)
