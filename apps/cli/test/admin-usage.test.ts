import { describe, expect, it } from "vitest"
import { fakeIo, runWith } from "./admin-fakes.ts"

// A server nobody listens on: a usage error must be found before any request is made.
const nowhere = ["--server", "http://127.0.0.1:9", "--token", "t"]

describe("usage errors exit 2 before anything is sent", () => {
  it.each([
    ["an unknown command", ["frobnicate"]],
    ["an unknown option", ["users", "list", "--bogus"]],
    ["a group without its subcommand", ["users"]],
    ["an unknown subcommand", ["rooms", "frob"]],
    ["a missing argument", ["users", "show"]],
    ["an extra argument", ["stats", "extra"]],
    ["a limit out of range", ["users", "list", "--limit", "101"]],
    ["a limit that is not a number", ["audit", "--limit", "ten"]],
    ["a role that does not exist", ["users", "set-role", "alice", "root"]],
    ["a room id that is not a UUID", ["rooms", "show", "general"]],
    ["a session id that is not a UUID", ["sessions", "revoke", "alice", "1234"]],
    ["an audit cursor that is not a UUID", ["audit", "--before", "yesterday"]],
    ["a delete without --yes and no terminal to ask on", ["rooms", "delete", "0b7c5d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"]],
    ["a login without --username when stdin is a pipe", ["login"]],
    ["a --server that is not a URL", ["--server", "localhost 8080", "stats"]],
    ["a --server that is not http(s)", ["--server", "ftp://127.0.0.1:9", "stats"]]
  ])("%s", async (_what, argv) => {
    const recorded = fakeIo()
    const args = argv[0] === "--server" ? argv : [...nowhere, ...argv]
    expect(await runWith(recorded, ...args)).toBe(2)
    expect(recorded.err()).toMatch(/^parley-admin: error: /)
    expect(recorded.err()).not.toMatch(/\n\s+at /) // no stack trace
    expect(recorded.out()).toBe("")
  })

  it.each([
    ["--help", ["--help"], "Usage: parley-admin [options] [command]"],
    ["help", ["help"], "Usage: parley-admin [options] [command]"],
    ["help stats", ["help", "stats"], "Usage: parley-admin stats"],
    ["help users", ["help", "users"], "Usage: parley-admin users"]
  ])("`%s` prints the help on stdout and exits 0", async (_what, argv, usage) => {
    const recorded = fakeIo()
    expect(await runWith(recorded, ...argv)).toBe(0)
    expect(recorded.out()).toContain(usage)
    expect(recorded.err()).toBe("")
  })

  it("--help exits 0 and lists the exit codes; every command has --help", async () => {
    const top = fakeIo()
    expect(await runWith(top, "--help")).toBe(0)
    expect(top.out()).toContain("Exit codes:")
    expect(top.out()).toContain("4  forbidden")
    for (const command of [
      ["login"],
      ["logout"],
      ["bootstrap-admin"],
      ["users", "list"],
      ["users", "set-role"],
      ["sessions", "revoke-all"],
      ["rooms", "delete"],
      ["audit"],
      ["stats"]
    ]) {
      const recorded = fakeIo()
      expect(await runWith(recorded, ...command, "--help")).toBe(0)
      expect(recorded.out()).toContain(`Usage: parley-admin ${command.join(" ")}`)
    }
  })
})
