/**
 * Slash commands typed into the input line. Parsing is separate from running (controller.ts)
 * so the help screen, the parser and its tests share one table.
 */

export type Command =
  | { readonly name: "join"; readonly room: string }
  | { readonly name: "leave" }
  | { readonly name: "create"; readonly room: string; readonly visibility: "public" | "private" }
  | { readonly name: "dm"; readonly username: string }
  | { readonly name: "rooms" }
  | { readonly name: "who" }
  | { readonly name: "search"; readonly words: string; readonly here: boolean }
  | { readonly name: "edit"; readonly text: string }
  | { readonly name: "delete" }
  | { readonly name: "retry" }
  | { readonly name: "logout" }
  | { readonly name: "help" }
  | { readonly name: "quit" }

/** Usage lines, in the order the help screen lists them. */
export const commandHelp: ReadonlyArray<readonly [string, string]> = [
  ["/join NAME", "open a room of yours, or join a public one"],
  ["/leave", "leave the open room"],
  ["/create NAME [--private]", "create a room and open it"],
  ["/dm USER", "open your direct room with USER (made the first time), shown as @USER"],
  ["/rooms", "your rooms (with unread counts) and public ones"],
  ["/who", "who is online in this room"],
  ["/search WORDS [--here]", "messages with all these words in your rooms (--here: this room)"],
  ["/edit NEW TEXT", "replace the text of your last message here (others see it edited)"],
  ["/delete", "delete your last message here (it shows as deleted)"],
  ["/retry", "send failed messages again (never stored twice)"],
  ["/logout", "sign this device out"],
  ["/help", "keys and commands"],
  ["/quit", "leave parley"]
]

export type Parsed = { readonly ok: true; readonly command: Command } | { readonly ok: false; readonly error: string }

const ok = (command: Command): Parsed => ({ ok: true, command })
const usage = (error: string): Parsed => ({ ok: false, error })

/** `line` starts with `/`. */
export const parseCommand = (line: string): Parsed => {
  const [head = "", ...rest] = line.trim().slice(1).split(/\s+/)
  const name = head.toLowerCase()
  const arg = rest.join(" ").trim()
  switch (name) {
    case "join":
    case "j":
      return arg.length === 0 ? usage("usage: /join NAME") : ok({ name: "join", room: arg })
    case "leave":
    case "part":
      return ok({ name: "leave" })
    case "create": {
      const isPrivate = rest.includes("--private")
      const room = rest
        .filter((word) => word !== "--private" && word !== "--public")
        .join(" ")
        .trim()
      return room.length === 0
        ? usage("usage: /create NAME [--private]")
        : ok({ name: "create", room, visibility: isPrivate ? "private" : "public" })
    }
    case "dm":
    case "msg": {
      const username = arg.replace(/^@/, "")
      return username.length === 0 || /\s/.test(username) ? usage("usage: /dm USERNAME") : ok({ name: "dm", username })
    }
    case "rooms":
      return ok({ name: "rooms" })
    case "who":
      return ok({ name: "who" })
    case "search":
    case "find": {
      const words = rest
        .filter((word) => word !== "--here")
        .join(" ")
        .trim()
      return words.length === 0
        ? usage("usage: /search WORDS [--here]")
        : ok({ name: "search", words, here: rest.includes("--here") })
    }
    case "edit":
      return arg.length === 0 ? usage("usage: /edit NEW TEXT") : ok({ name: "edit", text: arg })
    case "delete":
    case "del":
      return ok({ name: "delete" })
    case "retry":
      return ok({ name: "retry" })
    case "logout":
      return ok({ name: "logout" })
    case "help":
    case "?":
      return ok({ name: "help" })
    case "quit":
    case "exit":
    case "q":
      return ok({ name: "quit" })
    default:
      return usage(`unknown command /${name}: /help lists them`)
  }
}
