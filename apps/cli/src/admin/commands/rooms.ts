/** `rooms list|show|archive|delete`: every room, private ones too. */
import { AdminRoomList, AdminRoomView, MemberList, type MemberView } from "@parley/domain"
import type { Command } from "commander"
import { ApiError } from "../../shared/http.ts"
import { safeText } from "../../shared/safe-text.ts"
import { type AdminClient, connect, type GlobalOptions, segment } from "../client.ts"
import { CliError, ExitCode } from "../exit-codes.ts"
import type { Io } from "../io.ts"
import { fetchPages, moreLine, type PageOptions } from "../pages.ts"
import { emit, keyValues, shortTime, table } from "../render.ts"
import { parseId, parseLimit } from "../resolve.ts"

interface ListOptions extends PageOptions {
  readonly limit?: number
  readonly json?: boolean
}

const roomTable = (rooms: ReadonlyArray<AdminRoomView>) =>
  table(rooms, [
    { header: "ID", value: (r) => r.room_id },
    { header: "NAME", value: (r) => r.name, max: 40 },
    // A direct room (two users' own, named after both) is marked as such: it is no team's room.
    { header: "KIND", value: (r) => r.kind },
    { header: "VISIBILITY", value: (r) => r.visibility },
    { header: "STATUS", value: (r) => (r.archived ? "archived" : "open") },
    { header: "CREATED BY", value: (r) => r.created_by },
    { header: "CREATED", value: (r) => shortTime(r.created_at) }
  ])

const roomDetails = (room: AdminRoomView) =>
  keyValues([
    ["id", room.room_id],
    ["name", room.name],
    ["kind", room.kind === "direct" ? "direct (two users, fixed members)" : "room"],
    ["visibility", room.visibility],
    ["status", room.archived ? "archived (read-only)" : "open"],
    ["created by", room.created_by],
    ["created", room.created_at]
  ])

const memberTable = (members: ReadonlyArray<MemberView>) =>
  table(members, [
    { header: "USER ID", value: (m) => m.user_id },
    { header: "ROLE", value: (m) => m.role },
    { header: "JOINED", value: (m) => shortTime(m.joined_at) }
  ])

const listRooms = (client: AdminClient, options: ListOptions): Promise<AdminRoomList> =>
  fetchPages(
    options,
    (cursor) => client.call("/api/admin/rooms", { query: { limit: options.limit, cursor }, schema: AdminRoomList }),
    (page) => page.rooms,
    (rooms) => new AdminRoomList({ rooms, next_cursor: null })
  )

const getRoom = (client: AdminClient, id: string) =>
  client.call(`/api/admin/rooms/${segment(id)}`, { schema: AdminRoomView })

const roomId = parseId("<room-id>")

export const registerRooms = (program: Command, io: Io) => {
  const rooms = program.command("rooms").description("list rooms (private ones too), show members, archive, delete")
  const client = (command: Command) => connect(command.optsWithGlobals<GlobalOptions>(), io)

  rooms
    .command("list")
    .description("list every room, oldest first, a page at a time")
    .option("--limit <n>", "rooms per page (1-100)", parseLimit)
    .option("--cursor <cursor>", "start after this cursor (printed under a full page)")
    .option("--all", "fetch every page")
    .option("--json", "print one JSON document instead of a table")
    .action(async (options: ListOptions, command: Command) => {
      const list = await listRooms(client(command), options)
      emit(io, options.json, list, (data) => {
        if (data.rooms.length === 0) return "No rooms found.\n"
        return roomTable(data.rooms) + moreLine(data)
      })
    })

  rooms
    .command("show")
    .description("show a room and its first 100 members")
    .argument("<room-id>", "the room's id", roomId)
    .option("--json", "print one JSON document: {room, members, members_next_cursor}")
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const api = client(command)
      const room = await getRoom(api, id)
      const members = await api.call(`/api/admin/rooms/${segment(id)}/members`, {
        query: { limit: 100 },
        schema: MemberList
      })
      const data = { room, members: members.members, members_next_cursor: members.next_cursor }
      emit(io, options.json, data, (d) => {
        const more = d.members_next_cursor === null ? "" : "(more members not shown)\n"
        const list = d.members.length === 0 ? "No members.\n" : memberTable(d.members) + more
        return `${roomDetails(d.room)}\n${list}`
      })
    })

  rooms
    .command("archive")
    .description("make a room read-only: history stays, nobody can post")
    .argument("<room-id>", "the room's id", roomId)
    .option("--json", "print the archived room as JSON")
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const view = await client(command).call(`/api/admin/rooms/${segment(id)}/archive`, {
        method: "POST",
        schema: AdminRoomView
      })
      emit(io, options.json, view, (r) => `Archived room ${safeText(r.name)} (${r.room_id}).\n`)
    })

  rooms
    .command("delete")
    .description("delete a room, its members and its whole history (asks first unless --yes)")
    .argument("<room-id>", "the room's id", roomId)
    .option("-y, --yes", "do not ask for confirmation (needed when stdin is not a terminal)")
    .action(async (id: string, options: { yes?: boolean }, command: Command) => {
      if (options.yes !== true && !io.stdinIsTTY) {
        throw new CliError(ExitCode.usage, "refusing to delete without --yes (stdin is not a terminal)")
      }
      const api = client(command)
      // A delete that stopped halfway leaves a room that reads as gone but that the server
      // finishes deleting when asked again; so with --yes a 404 here does not stop the
      // DELETE, whose own 404 says whether there was anything left.
      const room = await getRoom(api, id).catch((error: unknown) => {
        if (options.yes === true && error instanceof ApiError && error.status === 404) return undefined
        throw error
      })
      if (room !== undefined && options.yes !== true) {
        const answer = await io.prompt(
          `Delete room ${safeText(room.name)} (${room.room_id}) and all its messages? This cannot be undone. [y/N] `
        )
        if (!/^y(es)?$/i.test(answer.trim())) {
          io.out("Not deleted.\n")
          return
        }
      }
      await api.call(`/api/admin/rooms/${segment(id)}`, { method: "DELETE" })
      io.out(room === undefined ? `Deleted room ${id}.\n` : `Deleted room ${safeText(room.name)} (${room.room_id}).\n`)
    })
}
