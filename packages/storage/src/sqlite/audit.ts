import type { AuditAction, MessageId, UserId } from "@parley/domain"
import { Effect, Layer } from "effect"
import { AuditLog, type AuditRecord } from "../audit.ts"
import { SqliteDatabase } from "./database.ts"
import { timeUuidKey } from "./timeuuid-key.ts"

interface AuditRow {
  readonly id: string
  readonly at: number
  readonly actor_id: string | null
  readonly actor: string
  readonly action: string
  readonly target_type: string
  readonly target_id: string
  readonly detail: string | null
  readonly request_id: string | null
}

const toRecord = (row: AuditRow): AuditRecord => ({
  id: row.id as MessageId,
  at: row.at,
  actorId: row.actor_id as UserId | null,
  actor: row.actor,
  action: row.action as AuditAction,
  targetType: row.target_type as AuditRecord["targetType"],
  targetId: row.target_id,
  detail: row.detail,
  requestId: row.request_id
})

const columns = "id, at, actor_id, actor, action, target_type, target_id, detail, request_id"

/** Entries sort by `id_key` (their TIMEUUID's `timeUuidKey`); "g" sorts after every key. */
export const queries = {
  append: `INSERT INTO audit_log (id_key, ${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  list: `SELECT ${columns} FROM audit_log WHERE id_key < ? ORDER BY id_key DESC LIMIT ?`
} as const

export const SqliteAudit = Layer.effect(
  AuditLog,
  Effect.gen(function* () {
    const db = yield* SqliteDatabase
    return AuditLog.of({
      append: (r) =>
        db
          .run(
            "audit.append",
            queries.append,
            timeUuidKey(r.id),
            r.id,
            r.at,
            r.actorId,
            r.actor,
            r.action,
            r.targetType,
            r.targetId,
            r.detail,
            r.requestId
          )
          .pipe(Effect.asVoid),
      list: ({ before, limit }) =>
        db
          .all<AuditRow>("audit.list", queries.list, before === null ? "g" : timeUuidKey(before), limit)
          .pipe(Effect.map((rows) => rows.map(toRecord)))
    })
  })
)
