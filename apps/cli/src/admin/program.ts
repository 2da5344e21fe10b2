/**
 * The `parley-admin` command tree, and `run`, which turns whatever happens into one exit
 * code and at most one error line. Each command group lives in `commands/`; they all talk to
 * the server through the public HTTP API, except `bootstrap-admin`, which opens the storage.
 */
import { Command, CommanderError } from "commander"
import { safeText } from "../shared/safe-text.ts"
import { registerAudit } from "./commands/audit.ts"
import { registerBootstrap } from "./commands/bootstrap.ts"
import { registerLogin } from "./commands/login.ts"
import { registerRooms } from "./commands/rooms.ts"
import { registerSessions } from "./commands/sessions.ts"
import { registerStats } from "./commands/stats.ts"
import { registerUsers } from "./commands/users.ts"
import { ExitCode, errorLine, exitCodeFor, exitCodeHelp } from "./exit-codes.ts"
import type { Io } from "./io.ts"

const environmentHelp = `Environment:
  PARLEY_URL    the server (default: the saved login's server, else http://localhost:8080)
  PARLEY_TOKEN  an admin access token to use instead of the saved login
  The saved login is kept in $XDG_CONFIG_HOME/parley/admin.json (mode 0600).`

/**
 * `users` alone, or `users frob`: one error line and exit 2, like every other usage error
 * (commander would print the whole help instead).
 */
const requireSubcommand = (group: Command) =>
  group.allowExcessArguments(true).action((_options: unknown, command: Command) => {
    const names = group.commands.map((c) => c.name()).join(", ")
    const [first] = command.args
    group.error(
      first === undefined
        ? `error: '${group.name()}' needs a command: ${names}`
        : `error: unknown command '${group.name()} ${safeText(first)}' (commands: ${names})`,
      { code: "commander.missingSubcommand" }
    )
  })

/** Builds the command tree. Settings given here are inherited by every subcommand. */
export const buildProgram = (io: Io): Command => {
  const program = new Command("parley-admin")
    .description("Administer a Parley server: users, sessions, rooms, the audit log and stats.")
    .option("--server <url>", "the server's URL (default: PARLEY_URL, the saved login's server, http://localhost:8080)")
    .option("--token <token>", "an admin access token (default: PARLEY_TOKEN, else the saved login)")
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      outputError: (text, write) => write(`parley-admin: ${text}`)
    })
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    .addHelpText("after", `\n${exitCodeHelp}\n\n${environmentHelp}\n`)
  registerLogin(program, io)
  registerBootstrap(program, io)
  registerUsers(program, io)
  registerSessions(program, io)
  registerRooms(program, io)
  registerAudit(program, io)
  registerStats(program, io)
  for (const command of program.commands) if (command.commands.length > 0) requireSubcommand(command)
  return program
}

/** Runs one command line (without `node` and the script) and returns its exit code. */
export const run = async (argv: ReadonlyArray<string>, io: Io): Promise<ExitCode> => {
  try {
    await buildProgram(io).parseAsync([...argv], { from: "user" })
    return ExitCode.ok
  } catch (error) {
    // Commander has already printed its own message (or the help it was asked for).
    if (!(error instanceof CommanderError)) io.err(`parley-admin: error: ${errorLine(error)}\n`)
    return exitCodeFor(error)
  }
}
