/**
 * `parley-admin`'s exit codes, one per kind of outcome a script may want to branch on. Every
 * failure, whatever raised it, is turned into one of these and one line on stderr.
 */
import { CommanderError } from "commander"
import { ApiError } from "../shared/http.ts"
import { safeText } from "../shared/safe-text.ts"

export const ExitCode = {
  ok: 0,
  /** Anything else: the server is unreachable or failed (5xx), a conflict, a local error. */
  failure: 1,
  /** The command line was wrong: unknown command or option, missing or invalid argument. */
  usage: 2,
  /** No saved login, or the server refused the credentials (401). */
  notAuthenticated: 3,
  /** Authenticated, but not allowed: not an admin (403). */
  forbidden: 4,
  /** The user, session or room does not exist (404). */
  notFound: 5
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** The exit-code table, as printed at the end of the top-level `--help`. */
export const exitCodeHelp = `Exit codes:
  0  ok
  1  failure (server unreachable or failing, conflict)
  2  usage error (unknown command or option, bad argument)
  3  not authenticated (no saved login, token refused)
  4  forbidden (not an admin)
  5  not found (no such user, session or room)`

/** A failure the CLI itself detects, carrying the exit code it means. */
export class CliError extends Error {
  readonly exitCode: ExitCode
  constructor(exitCode: ExitCode, message: string) {
    super(message)
    this.name = "CliError"
    this.exitCode = exitCode
  }
}

const byStatus = (status: number): ExitCode => {
  if (status === 400) return ExitCode.usage
  if (status === 401) return ExitCode.notAuthenticated
  if (status === 403) return ExitCode.forbidden
  if (status === 404) return ExitCode.notFound
  return ExitCode.failure
}

/**
 * Commander's own outcomes: whatever it ends with exit code 0 (`--help`, `help [cmd]`,
 * `--version`) is a success; everything else, help shown after an error included, is usage.
 */
const byCommanderCode = (error: CommanderError): ExitCode => (error.exitCode === 0 ? ExitCode.ok : ExitCode.usage)

export const exitCodeFor = (error: unknown): ExitCode => {
  if (error instanceof CliError) return error.exitCode
  if (error instanceof ApiError) return byStatus(error.status)
  if (error instanceof CommanderError) return byCommanderCode(error)
  return ExitCode.failure
}

/**
 * The one line printed for a failure (without the program name). Server messages can echo
 * what a user typed, so they are made safe like any other server text.
 */
export const errorLine = (error: unknown): string => {
  if (error instanceof ApiError) {
    if (error.status === 0) return safeText(error.message)
    const hint = error.status === 401 ? " (run `parley-admin login` again, or pass a fresh --token)" : ""
    return `${safeText(error.message)}${hint} [${error.status} ${safeText(error.code)}]`
  }
  if (error instanceof Error) return safeText(error.message)
  return safeText(String(error))
}
