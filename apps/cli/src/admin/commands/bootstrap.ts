/** `bootstrap-admin`: the documented way to make the first admin (see ../bootstrap.ts). */
import type { Command } from "commander"
import { safeText } from "../../shared/safe-text.ts"
import { CliError, ExitCode } from "../exit-codes.ts"
import type { Io } from "../io.ts"

export const registerBootstrap = (program: Command, io: Io) => {
  program
    .command("bootstrap-admin")
    .summary("make an existing user an admin, on the server's machine (no HTTP)")
    .description(
      "make an existing user an admin by opening the server's storage directly; run it on the server's machine " +
        "with the server's PARLEY_STORAGE, PARLEY_DATA_DIR and CASSANDRA_* settings (no --server or login needed)"
    )
    .argument("<user>", "username or email of a user who has signed up")
    .action(async (input: string) => {
      // Loaded here so other commands never load the storage drivers.
      const { bootstrapAdmin } = await import("../bootstrap.ts")
      const actor = `operator@${io.hostname()}`
      const outcome = await bootstrapAdmin(input.trim(), actor, io.env)
      switch (outcome.kind) {
        case "no-database":
          throw new CliError(
            ExitCode.failure,
            `no SQLite database at ${outcome.file}: run this where the server runs, with its PARLEY_DATA_DIR and PARLEY_STORAGE`
          )
        case "missing":
          throw new CliError(ExitCode.notFound, `no user "${safeText(input)}": sign up first, then run this again`)
        case "already":
          io.out(`${safeText(outcome.user.username)} (${outcome.user.id}) is already an admin.\n`)
          return
        case "promoted":
          io.out(
            `${safeText(outcome.user.username)} (${outcome.user.id}) is now an admin (recorded as ${safeText(actor)}).\n`
          )
          if (outcome.user.disabled) io.err("note: this user is disabled; enable them to log in\n")
      }
    })
}
