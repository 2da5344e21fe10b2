import { type AuditAction, type MessageId, timeUuidMs, type UserId } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Effect, Layer } from "effect"
import { AuditLog, type AuditRecord } from "../audit.ts"
import { CassandraClient, uuid } from "./client.ts"

/** 00:00 UTC on the first of the month holding `ms`: the entry's partition. */
const monthOf = (ms: number) => {
  const d = new Date(ms)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

/** Month-index rows fetched per read: a page usually needs one or two months. */
const monthsPerRead = 6

const columns = "id, at, actor_id, actor, action, target_type, target_id, detail, request_id"

const toRecord = (row: cassandra.types.Row): AuditRecord => ({
  id: row.get("id").toString() as MessageId,
  at: (row.get("at") as Date).getTime(),
  actorId: (row.get("actor_id")?.toString() ?? null) as UserId | null,
  actor: row.get("actor"),
  action: row.get("action") as AuditAction,
  targetType: row.get("target_type"),
  targetId: row.get("target_id"),
  detail: row.get("detail") ?? null,
  requestId: row.get("request_id") ?? null
})

/** Absent values are left unset: a bound null would write a tombstone. */
const orUnset = <A>(value: A | null) => (value === null ? cassandra.types.unset : value)

/**
 * The audit log in monthly partitions (`cql/003_admin.cql`), read newest first by walking the
 * index of non-empty months backwards from the cursor's month.
 */
export const CassandraAudit = Layer.effect(
  AuditLog,
  Effect.gen(function* () {
    const db = yield* CassandraClient

    const months = (bound: readonly ["<" | "<=", number] | null) =>
      db
        .execute(
          "audit.list.months",
          `SELECT month FROM audit_months WHERE log = 0${bound ? ` AND month ${bound[0]} ?` : ""} LIMIT ?`,
          [...(bound ? [new Date(bound[1])] : []), monthsPerRead]
        )
        .pipe(Effect.map((rs) => rs.rows.map((row) => (row.get("month") as Date).getTime())))

    const entries = (month: number, before: MessageId | null, limit: number) =>
      db
        .execute(
          "audit.list",
          `SELECT ${columns} FROM audit_log WHERE month = ?${before ? " AND id < ?" : ""} LIMIT ?`,
          [new Date(month), ...(before ? [uuid(before)] : []), limit]
        )
        .pipe(Effect.map((rs) => rs.rows.map(toRecord)))

    return AuditLog.of({
      append: (r) => {
        const month = new Date(monthOf(timeUuidMs(r.id)))
        return db.batch("audit.append", [
          {
            query: `INSERT INTO audit_log (month, ${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            params: [
              month,
              uuid(r.id),
              new Date(r.at),
              orUnset(r.actorId === null ? null : uuid(r.actorId)),
              r.actor,
              r.action,
              r.targetType,
              r.targetId,
              orUnset(r.detail),
              orUnset(r.requestId)
            ]
          },
          { query: "INSERT INTO audit_months (log, month) VALUES (0, ?)", params: [month] }
        ])
      },
      list: Effect.fn("AuditLog.list")(function* ({ before, limit }) {
        const found: Array<AuditRecord> = []
        let bound: readonly ["<" | "<=", number] | null = before === null ? null : ["<=", monthOf(timeUuidMs(before))]
        while (found.length < limit) {
          const batch = yield* months(bound)
          for (const month of batch) {
            found.push(...(yield* entries(month, before, limit - found.length)))
            if (found.length >= limit) break
          }
          // A short read of the index means the walk reached the oldest month.
          if (batch.length < monthsPerRead) break
          bound = ["<", batch.at(-1)!]
        }
        return found
      })
    })
  })
)
