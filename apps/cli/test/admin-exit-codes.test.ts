import { CommanderError } from "commander"
import { afterEach, describe, expect, it } from "vitest"
import { CliError, ExitCode, errorLine, exitCodeFor } from "../src/admin/exit-codes.ts"
import { ApiError } from "../src/shared/http.ts"
import { apiError, fakeIo, runWith, sampleUser, stubServer } from "./admin-fakes.ts"

describe("exit codes", () => {
  it("maps API statuses, CLI errors and commander outcomes to the documented codes", () => {
    expect(exitCodeFor(new ApiError(401, "unauthorized", "no"))).toBe(3)
    expect(exitCodeFor(new ApiError(403, "forbidden", "no"))).toBe(4)
    expect(exitCodeFor(new ApiError(404, "not_found", "no"))).toBe(5)
    expect(exitCodeFor(new ApiError(400, "invalid_request", "no"))).toBe(2)
    expect(exitCodeFor(new ApiError(409, "conflict", "no"))).toBe(1)
    expect(exitCodeFor(new ApiError(500, "internal_error", "no"))).toBe(1)
    expect(exitCodeFor(new ApiError(503, "service_unavailable", "no"))).toBe(1)
    expect(exitCodeFor(new ApiError(0, "unreachable", "no"))).toBe(1)
    expect(exitCodeFor(new CliError(ExitCode.notFound, "no"))).toBe(5)
    expect(exitCodeFor(new CommanderError(0, "commander.helpDisplayed", "(outputHelp)"))).toBe(0)
    expect(exitCodeFor(new CommanderError(1, "commander.help", "(outputHelp)"))).toBe(2)
    expect(exitCodeFor(new CommanderError(0, "commander.help", "(outputHelp)"))).toBe(0)
    expect(exitCodeFor(new CommanderError(0, "commander.version", "1.0.0"))).toBe(0)
    expect(exitCodeFor(new CommanderError(1, "commander.unknownOption", "x"))).toBe(2)
    expect(exitCodeFor(new Error("boom"))).toBe(1)
  })

  it("says what went wrong in one line, with server text made safe", () => {
    const line = errorLine(new ApiError(404, "not_found", "no user \x1b[2J\u202eevil\nsecond"))
    expect(line).toBe("no user \\x1b[2J\\u202eevil\\x0asecond [404 not_found]")
    expect(line).not.toContain("\n")
  })
})

describe("exit codes of real command runs against a scripted server", () => {
  let close: (() => Promise<void>) | undefined
  afterEach(async () => {
    await close?.()
    close = undefined
  })

  const serverAnswering = async (answer: ReturnType<typeof apiError>) => {
    const stub = await stubServer(() => answer)
    close = stub.close
    return stub
  }

  it.each([
    [401, "unauthorized", 3],
    [403, "forbidden", 4],
    [404, "not_found", 5],
    [500, "internal_error", 1],
    [503, "service_unavailable", 1]
  ])("an answer %i (%s) exits %i with one line on stderr and nothing on stdout", async (status, code, exit) => {
    const stub = await serverAnswering(apiError(status, code, `the server said ${code}`))
    const recorded = fakeIo()
    expect(await runWith(recorded, "--server", stub.url, "--token", "t0k", "stats", "--json")).toBe(exit)
    expect(recorded.out()).toBe("")
    expect(recorded.err()).toBe(
      `parley-admin: error: the server said ${code}${status === 401 ? " (run `parley-admin login` again, or pass a fresh --token)" : ""} [${status} ${code}]\n`
    )
    expect(stub.requests[0]?.authorization).toBe("Bearer t0k")
  })

  it("an unreachable server exits 1", async () => {
    const stub = await stubServer(() => ({ status: 200 }))
    await stub.close()
    const recorded = fakeIo()
    expect(await runWith(recorded, "--server", stub.url, "--token", "t", "stats")).toBe(1)
    expect(recorded.err()).toMatch(/^parley-admin: error: cannot reach http:\/\/127\.0\.0\.1:\d+: .+\n$/)
  })

  it("no saved login and no token exits 3 without calling the server", async () => {
    const stub = await stubServer(() => ({ status: 200, body: {} }))
    close = stub.close
    const recorded = fakeIo()
    expect(await runWith(recorded, "--server", stub.url, "users", "list")).toBe(3)
    expect(recorded.err()).toContain("not logged in to")
    expect(stub.requests).toHaveLength(0)
  })

  it("a username nobody has exits 5", async () => {
    const stub = await stubServer((request) =>
      request.path === "/api/admin/users"
        ? { status: 200, body: { users: [sampleUser({ username: "alicea" })], next_cursor: null } }
        : { status: 500 }
    )
    close = stub.close
    const recorded = fakeIo()
    expect(await runWith(recorded, "--server", stub.url, "--token", "t", "users", "disable", "alice")).toBe(5)
    expect(recorded.err()).toBe('parley-admin: error: no user with username "alice"\n')
    expect(stub.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api/admin/users"])
  })

  it("PARLEY_URL and PARLEY_TOKEN stand in for the flags", async () => {
    const stub = await stubServer(() => ({
      status: 200,
      body: { users: 1, rooms: 2, messages_today: 3, sockets_connected: 4 }
    }))
    close = stub.close
    const recorded = fakeIo({ env: { PARLEY_URL: stub.url, PARLEY_TOKEN: "from-env" } })
    expect(await runWith(recorded, "stats", "--json")).toBe(0)
    expect(JSON.parse(recorded.out())).toEqual({ users: 1, rooms: 2, messages_today: 3, sockets_connected: 4 })
    expect(stub.requests[0]?.authorization).toBe("Bearer from-env")
  })
})
