import { describe, expect, it } from "vitest"
import { parseChatArgs, resolveServer, UsageError } from "../src/chat/args.ts"
import { parseCommand } from "../src/chat/commands.ts"

describe("slash commands", () => {
  it("parses each command and its arguments", () => {
    expect(parseCommand("/join  general chat ")).toEqual({ ok: true, command: { name: "join", room: "general chat" } })
    expect(parseCommand("/create ops --private")).toEqual({
      ok: true,
      command: { name: "create", room: "ops", visibility: "private" }
    })
    expect(parseCommand("/create lobby")).toMatchObject({ command: { visibility: "public" } })
    expect(parseCommand("/search  Deploy  friday ")).toEqual({
      ok: true,
      command: { name: "search", words: "Deploy friday", here: false }
    })
    expect(parseCommand("/find --here deploy")).toEqual({
      ok: true,
      command: { name: "search", words: "deploy", here: true }
    })
    for (const line of ["/dm bob", "/DM @bob", "/msg  bob "]) {
      expect(parseCommand(line)).toEqual({ ok: true, command: { name: "dm", username: "bob" } })
    }
    for (const name of ["leave", "rooms", "who", "retry", "logout", "help", "quit"]) {
      expect(parseCommand(`/${name.toUpperCase()}`)).toEqual({ ok: true, command: { name } })
    }
  })

  it("answers bad input with a usage line", () => {
    expect(parseCommand("/join")).toEqual({ ok: false, error: "usage: /join NAME" })
    expect(parseCommand("/create --private")).toEqual({ ok: false, error: "usage: /create NAME [--private]" })
    expect(parseCommand("/search --here")).toEqual({ ok: false, error: "usage: /search WORDS [--here]" })
    for (const line of ["/dm", "/dm @", "/dm bob carol"]) {
      expect(parseCommand(line)).toEqual({ ok: false, error: "usage: /dm USERNAME" })
    }
    expect(parseCommand("/nope")).toEqual({ ok: false, error: "unknown command /nope: /help lists them" })
  })
})

describe("parley command line", () => {
  it("takes the server from --server, then PARLEY_URL, then the last one used", () => {
    expect(resolveServer("http://a:1/", { PARLEY_URL: "http://b:2" }, "http://c:3")).toBe("http://a:1")
    expect(resolveServer(undefined, { PARLEY_URL: "http://b:2" }, "http://c:3")).toBe("http://b:2")
    expect(resolveServer(undefined, {}, "http://c:3")).toBe("http://c:3")
    expect(resolveServer(undefined, {}, undefined)).toBe("http://localhost:8080")
    expect(() => resolveServer("ftp://x", {}, undefined)).toThrow(UsageError)
    expect(() => resolveServer("not a url", {}, undefined)).toThrow(UsageError)
  })

  it("refuses flags that do not go together", () => {
    expect(() => parseChatArgs(["--password-stdin"])).toThrow("--password-stdin needs --username")
    expect(() => parseChatArgs(["--username", "a", "--password-stdin", "--signup"])).toThrow("needs --email")
    expect(() => parseChatArgs(["--username", "a"])).toThrow(UsageError)
    expect(() => parseChatArgs(["--frob"])).toThrow(UsageError)
    expect(parseChatArgs(["--room", "general", "--server", "http://x:1"])).toMatchObject({
      room: "general",
      server: "http://x:1"
    })
  })
})
