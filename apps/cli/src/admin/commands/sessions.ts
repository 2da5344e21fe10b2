/** `sessions list|revoke|revoke-all`: a user's logged-in devices. */
import { AdminSessionList, RevokedSessions } from "@parley/domain"
import type { Command } from "commander"
import { connect, type GlobalOptions, segment } from "../client.ts"
import type { Io } from "../io.ts"
import { emit, shortTime, table } from "../render.ts"
import { parseId, resolveUserId } from "../resolve.ts"

const sessionTable = (list: AdminSessionList) =>
  list.sessions.length === 0
    ? "No live sessions.\n"
    : table(list.sessions, [
        { header: "ID", value: (s) => s.id },
        { header: "CREATED", value: (s) => shortTime(s.created_at) },
        { header: "LAST USED", value: (s) => shortTime(s.last_used_at) },
        { header: "EXPIRES", value: (s) => shortTime(s.expires_at) },
        { header: "IP", value: (s) => s.ip ?? "" },
        { header: "USER AGENT", value: (s) => s.user_agent ?? "", max: 40 }
      ])

export const registerSessions = (program: Command, io: Io) => {
  const sessions = program.command("sessions").description("list a user's sessions, end one or all of them")
  const client = (command: Command) => connect(command.optsWithGlobals<GlobalOptions>(), io)

  sessions
    .command("list")
    .description("list a user's live sessions")
    .argument("<user>", "user id, username or email")
    .option("--json", "print one JSON document instead of a table")
    .action(async (user: string, options: { json?: boolean }, command: Command) => {
      const api = client(command)
      const id = await resolveUserId(api, user)
      const list = await api.call(`/api/admin/users/${segment(id)}/sessions`, { schema: AdminSessionList })
      emit(io, options.json, list, sessionTable)
    })

  sessions
    .command("revoke")
    .description("end one session: its refresh token and access tokens stop working, its sockets close")
    .argument("<user>", "user id, username or email")
    .argument("<session-id>", "the session's id (see `sessions list`)", parseId("<session-id>"))
    .action(async (user: string, sessionId: string, _options: unknown, command: Command) => {
      const api = client(command)
      const id = await resolveUserId(api, user)
      await api.call(`/api/admin/users/${segment(id)}/sessions/${segment(sessionId)}`, { method: "DELETE" })
      io.out(`Revoked session ${sessionId}.\n`)
    })

  sessions
    .command("revoke-all")
    .description("end every session of a user (they stay enabled and may log in again)")
    .argument("<user>", "user id, username or email")
    .option("--json", "print one JSON document")
    .action(async (user: string, options: { json?: boolean }, command: Command) => {
      const api = client(command)
      const id = await resolveUserId(api, user)
      const result = await api.call(`/api/admin/users/${segment(id)}/sessions`, {
        method: "DELETE",
        schema: RevokedSessions
      })
      emit(io, options.json, result, (r) => `Revoked ${r.revoked} session${r.revoked === 1 ? "" : "s"}.\n`)
    })
}
