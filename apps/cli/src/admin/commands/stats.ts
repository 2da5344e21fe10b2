/** `stats`: the server at a glance. */
import { Stats } from "@parley/domain"
import type { Command } from "commander"
import { connect, type GlobalOptions } from "../client.ts"
import type { Io } from "../io.ts"
import { emit, keyValues } from "../render.ts"

export const registerStats = (program: Command, io: Io) => {
  program
    .command("stats")
    .description("users, rooms, messages stored today (UTC) and sockets connected now on every node")
    .option("--json", "print one JSON document")
    .action(async (options: { json?: boolean }, command: Command) => {
      const stats = await connect(command.optsWithGlobals<GlobalOptions>(), io).call("/api/admin/stats", {
        schema: Stats
      })
      emit(io, options.json, stats, (s) =>
        keyValues([
          ["users", String(s.users)],
          ["rooms", String(s.rooms)],
          ["messages today", String(s.messages_today)],
          ["sockets connected", String(s.sockets_connected)]
        ])
      )
    })
}
