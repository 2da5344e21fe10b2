/** `users list|show|disable|enable|set-role`. */
import { AdminUserList, AdminUserView } from "@parley/domain"
import { Argument, type Command } from "commander"
import { safeText } from "../../shared/safe-text.ts"
import { type AdminClient, connect, type GlobalOptions, segment } from "../client.ts"
import type { Io } from "../io.ts"
import { fetchPages, moreLine, type PageOptions } from "../pages.ts"
import { emit, keyValues, shortTime, table } from "../render.ts"
import { parseLimit, resolveUserId } from "../resolve.ts"

interface ListOptions extends PageOptions {
  readonly query?: string
  readonly limit?: number
  readonly json?: boolean
}

const userTable = (users: ReadonlyArray<AdminUserView>) =>
  table(users, [
    { header: "ID", value: (u) => u.id },
    { header: "USERNAME", value: (u) => u.username },
    { header: "EMAIL", value: (u) => u.email, max: 40 },
    { header: "ROLE", value: (u) => u.role },
    { header: "STATUS", value: (u) => (u.disabled ? "disabled" : "active") },
    { header: "CREATED", value: (u) => shortTime(u.created_at) }
  ])

const userDetails = (user: AdminUserView) =>
  keyValues([
    ["id", user.id],
    ["username", user.username],
    ["email", user.email],
    ["role", user.role],
    ["status", user.disabled ? "disabled" : "active"],
    ["created", user.created_at],
    ["updated", user.updated_at]
  ])

const listUsers = (client: AdminClient, options: ListOptions): Promise<AdminUserList> =>
  fetchPages(
    options,
    (cursor) =>
      client.call("/api/admin/users", {
        query: { q: options.query, limit: options.limit, cursor },
        schema: AdminUserList
      }),
    (page) => page.users,
    (users) => new AdminUserList({ users, next_cursor: null })
  )

const getUser = (client: AdminClient, id: string) =>
  client.call(`/api/admin/users/${segment(id)}`, { schema: AdminUserView })

const jsonOption = "print one JSON document instead of a table"

export const registerUsers = (program: Command, io: Io) => {
  const users = program.command("users").description("find users, disable or enable them, set their role")
  const client = (command: Command) => connect(command.optsWithGlobals<GlobalOptions>(), io)

  users
    .command("list")
    .description("list users in username order, a page at a time")
    .option("-q, --query <q>", "a username prefix, or a whole email address")
    .option("--limit <n>", "users per page (1-100)", parseLimit)
    .option("--cursor <cursor>", "start after this cursor (printed under a full page)")
    .option("--all", "fetch every page")
    .option("--json", jsonOption)
    .action(async (options: ListOptions, command: Command) => {
      const list = await listUsers(client(command), options)
      emit(io, options.json, list, (data) => {
        if (data.users.length === 0) return "No users found.\n"
        return userTable(data.users) + moreLine(data)
      })
    })

  users
    .command("show")
    .description("show one user")
    .argument("<user>", "user id, username or email")
    .option("--json", jsonOption)
    .action(async (user: string, options: { json?: boolean }, command: Command) => {
      const api = client(command)
      emit(io, options.json, await getUser(api, await resolveUserId(api, user)), userDetails)
    })

  const change = (name: string, description: string, action: "disable" | "enable", done: string) =>
    users
      .command(name)
      .description(description)
      .argument("<user>", "user id, username or email")
      .option("--json", jsonOption)
      .action(async (user: string, options: { json?: boolean }, command: Command) => {
        const api = client(command)
        const id = await resolveUserId(api, user)
        const view = await api.call(`/api/admin/users/${segment(id)}/${action}`, {
          method: "POST",
          schema: AdminUserView
        })
        emit(io, options.json, view, (u) => `${done} ${safeText(u.username)} (${u.id}).\n`)
      })
  change(
    "disable",
    "disable a user: they cannot log in, their sessions end and their sockets close at once",
    "disable",
    "Disabled"
  )
  change("enable", "enable a disabled user (they log in again; ended sessions stay ended)", "enable", "Enabled")

  users
    .command("set-role")
    .description("make a user an admin, or an ordinary user again")
    .argument("<user>", "user id, username or email")
    .addArgument(new Argument("<role>", "the new role").choices(["user", "admin"]))
    .option("--json", jsonOption)
    .action(async (user: string, role: string, options: { json?: boolean }, command: Command) => {
      const api = client(command)
      const id = await resolveUserId(api, user)
      const view = await api.call(`/api/admin/users/${segment(id)}/role`, {
        method: "PUT",
        body: { role },
        schema: AdminUserView
      })
      emit(
        io,
        options.json,
        view,
        (u) => `${safeText(u.username)} (${u.id}) is now ${u.role === "admin" ? "an admin" : "a user"}.\n`
      )
    })
}
