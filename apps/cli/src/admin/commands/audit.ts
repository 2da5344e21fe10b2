/** `audit`: who did what to whom, newest first. */
import { AuditPage } from "@parley/domain"
import type { Command } from "commander"
import { connect, type GlobalOptions } from "../client.ts"
import type { Io } from "../io.ts"
import { emit, shortTime, table } from "../render.ts"
import { parseId, parseLimit } from "../resolve.ts"

interface AuditOptions {
  readonly limit?: number
  readonly before?: string
  readonly json?: boolean
}

const auditTable = (page: AuditPage) => {
  if (page.entries.length === 0) return "No audit entries.\n"
  const rows = table(page.entries, [
    { header: "AT", value: (e) => shortTime(e.at) },
    { header: "ACTOR", value: (e) => e.actor, max: 32 },
    { header: "ACTION", value: (e) => e.action },
    { header: "TARGET", value: (e) => `${e.target_type} ${e.target_id}` },
    { header: "DETAIL", value: (e) => e.detail ?? "", max: 30 },
    { header: "REQUEST", value: (e) => e.request_id ?? "" }
  ])
  return page.next_cursor === null ? rows : `${rows}Older: --before ${page.next_cursor}\n`
}

export const registerAudit = (program: Command, io: Io) => {
  program
    .command("audit")
    .description("show the audit log of admin actions, newest first")
    .option("--limit <n>", "entries to show (1-100)", parseLimit)
    .option("--before <id>", "only entries older than this one (printed under a full page)", parseId("--before"))
    .option("--json", "print one JSON document instead of a table")
    .action(async (options: AuditOptions, command: Command) => {
      const page = await connect(command.optsWithGlobals<GlobalOptions>(), io).call("/api/admin/audit", {
        query: { limit: options.limit, before: options.before },
        schema: AuditPage
      })
      emit(io, options.json, page, auditTable)
    })
}
