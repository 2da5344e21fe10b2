/** `login` and `logout`: the saved session other commands use. */
import { TokenResponse } from "@parley/domain"
import type { Command } from "commander"
import { ApiError, request } from "../../shared/http.ts"
import { safeText } from "../../shared/safe-text.ts"
import { type GlobalOptions, resolveServer, savedAccessToken, savedFrom } from "../client.ts"
import { CliError, ExitCode } from "../exit-codes.ts"
import type { Io } from "../io.ts"
import { forgetLogin, readLogins, saveLogin } from "../login-store.ts"

interface LoginOptions {
  readonly username?: string
  readonly passwordStdin?: boolean
}

/** The first line of stdin: `echo "$PASSWORD" | parley-admin login -u admin --password-stdin`. */
const firstLine = (text: string) => text.split(/\r?\n/)[0] ?? ""

const askCredentials = async (options: LoginOptions, io: Io) => {
  const fromStdin = options.passwordStdin === true || !io.stdinIsTTY
  let username = options.username?.trim()
  if (username === undefined || username.length === 0) {
    if (fromStdin) {
      throw new CliError(ExitCode.usage, "--username is required when the password comes from stdin")
    }
    username = (await io.prompt("Username or email: ")).trim()
  }
  const password = fromStdin ? firstLine(await io.readStdin()) : await io.prompt("Password: ", { hidden: true })
  if (username.length === 0) throw new CliError(ExitCode.usage, "a username or email is required")
  if (password.length === 0) throw new CliError(ExitCode.usage, "a password is required")
  return { username, password }
}

export const registerLogin = (program: Command, io: Io) => {
  program
    .command("login")
    .description("log in as an admin and save the session for later commands")
    .option("-u, --username <name>", "username or email (asked for when omitted)")
    .option(
      "--password-stdin",
      "read the password from the first line of stdin (the default when stdin is not a terminal)"
    )
    .action(async (options: LoginOptions, command: Command) => {
      const server = resolveServer(command.optsWithGlobals<GlobalOptions>(), io)
      const credentials = await askCredentials(options, io)
      let tokens: TokenResponse
      try {
        tokens = await request(server, "/login", {
          method: "POST",
          body: { email_or_username: credentials.username, password: credentials.password },
          schema: TokenResponse
        })
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          throw new CliError(ExitCode.notAuthenticated, "wrong username or password")
        }
        throw error
      }
      saveLogin(io.env, server, savedFrom(tokens, Date.now()))
      io.out(`Logged in to ${server} as ${safeText(tokens.user.username)} (role ${tokens.user.role}).\n`)
      if (tokens.user.role !== "admin") {
        io.err(
          `note: ${safeText(tokens.user.username)} is not an admin, so admin commands will be refused (exit code 4)\n`
        )
      }
    })

  program
    .command("logout")
    .description("end the saved session on the server and forget it here")
    .action(async (_options: unknown, command: Command) => {
      const server = resolveServer(command.optsWithGlobals<GlobalOptions>(), io)
      if (readLogins(io.env).servers[server] === undefined) {
        throw new CliError(ExitCode.notAuthenticated, `not logged in to ${server}`)
      }
      try {
        const token = await savedAccessToken(io, server)
        // Read after getting the token: getting it may have rotated the refresh token.
        const login = readLogins(io.env).servers[server]
        await request(server, "/api/logout", {
          method: "POST",
          token,
          body: { refresh_token: login?.refresh_token ?? "" }
        })
      } finally {
        // Forgotten here even when the server could not be told, so it is never used again.
        forgetLogin(io.env, server)
      }
      io.out(`Logged out of ${server}.\n`)
    })
}
