/** `parley`'s command line: flags, their help, and the exit codes it promises. */
import { parseArgs } from "node:util"
import { defaultServer, resolveServer as resolveServerFrom } from "../shared/http.ts"

export const exitCodes = { ok: 0, failure: 1, usage: 2, notAuthenticated: 3 } as const

export const usage = `parley: the Parley terminal chat client

Usage
  parley [--server URL] [--room NAME]        open the chat (signs you in first if needed)
  parley --signup                            open the chat on the "create an account" form
  parley --username NAME --password-stdin    sign in from a script (password on stdin), then exit
         [--signup --email EMAIL]            ... creating the account first
  parley --logout                            sign this device out

Options
  --server URL      the server (default: $PARLEY_URL, else the last one used, else ${defaultServer})
  --room NAME       open this room (a name or an id) at start; public rooms are joined
  -h, --help        this help

Your session is kept in $XDG_CONFIG_HOME/parley/chat.json (mode 0600; default ~/.config).
In the chat, press ? (on an empty line) or type /help for keys and commands.

Exit codes: 0 ok, 1 failure, 2 usage error, 3 not signed in (or the session was revoked)`

export class UsageError extends Error {
  readonly _tag = "UsageError"
}

export interface ChatArgs {
  readonly server: string | undefined
  readonly room: string | undefined
  readonly signup: boolean
  readonly username: string | undefined
  readonly email: string | undefined
  readonly passwordStdin: boolean
  readonly logout: boolean
  readonly help: boolean
}

export const parseChatArgs = (argv: ReadonlyArray<string>): ChatArgs => {
  let values: ReturnType<typeof parse>["values"]
  try {
    values = parse(argv).values
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
  const args: ChatArgs = {
    server: values.server,
    room: values.room,
    signup: values.signup ?? false,
    username: values.username,
    email: values.email,
    passwordStdin: values["password-stdin"] ?? false,
    logout: values.logout ?? false,
    help: values.help ?? false
  }
  if (args.passwordStdin && args.username === undefined) throw new UsageError("--password-stdin needs --username")
  if (args.passwordStdin && args.signup && args.email === undefined) {
    throw new UsageError("--signup with --password-stdin needs --email")
  }
  if (!args.passwordStdin && (args.username !== undefined || args.email !== undefined)) {
    throw new UsageError("--username and --email go with --password-stdin (without them, the app asks)")
  }
  return args
}

const parse = (argv: ReadonlyArray<string>) =>
  parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      server: { type: "string" },
      room: { type: "string" },
      signup: { type: "boolean" },
      username: { type: "string" },
      email: { type: "string" },
      "password-stdin": { type: "boolean" },
      logout: { type: "boolean" },
      help: { type: "boolean", short: "h" }
    }
  })

/** The server to talk to (see the shared `resolveServer`); a bad one is a usage error. */
export const resolveServer = (flag: string | undefined, env: NodeJS.ProcessEnv, last: string | undefined) =>
  resolveServerFrom(flag, env, last, (message) => new UsageError(message))
