/**
 * `parley-admin` end to end: the real bin as a child process against real server processes,
 * with its own XDG config folder. With two nodes (Cassandra + Redis), sockets sit on node B
 * while every admin command goes through node A, so revocation must cross nodes.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request } from "../../server/test/support/http.ts"
import { type Backend, type RunningServer, startAnotherNode, startServer } from "../../server/test/support/server.ts"
import { type Account, account, connect, createRoom, login, type TestSocket } from "../../server/test/support/ws.ts"

const bin = resolve(import.meta.dirname, "../src/admin/main.ts")

interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly startedAt: number
  readonly exitedAt: number
}

/** Runs `parley-admin` with only the environment given: nothing leaks in from the test runner. */
const runCli = (args: ReadonlyArray<string>, env: Record<string, string>, stdin = ""): Promise<CliRun> =>
  new Promise((done, fail) => {
    const startedAt = Date.now()
    const child = spawn(process.execPath, [bin, ...args], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/", ...env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => {
      stdout += chunk
    })
    child.stderr.on("data", (chunk) => {
      stderr += chunk
    })
    child.on("error", fail)
    child.on("close", (code) => done({ code, stdout, stderr, startedAt, exitedAt: Date.now() }))
    child.stdin.end(stdin)
  })

/** The storage settings of a server: what `bootstrap-admin` needs on the server's machine. */
const storageEnv = (server: RunningServer) =>
  Object.fromEntries(
    Object.entries(server.env).filter(
      ([key]) => key === "PARLEY_STORAGE" || key === "PARLEY_DATA_DIR" || key.startsWith("CASSANDRA_")
    )
  )

const password = "secret12"

export const adminSuite = (backend: Backend, options: { readonly twoNodes: boolean }) =>
  describe(`parley-admin (${backend.name}${options.twoNodes ? ", sockets on node B, commands through node A" : ""})`, () => {
    let a: RunningServer
    let b: RunningServer
    let root: Account
    let alice: Account
    let bob: Account
    const configHome = mkdtempSync(join(tmpdir(), "parley-admin-it-"))
    /** Runs an admin command through node A as the saved login. */
    const admin = (args: ReadonlyArray<string>, stdin = "") =>
      runCli(["--server", a.url, ...args], { XDG_CONFIG_HOME: configHome }, stdin)
    const json = (run: CliRun) => {
      expect(run.code, run.stderr).toBe(0)
      return JSON.parse(run.stdout)
    }
    /**
     * The close, stamped when it arrives (not when the test gets round to awaiting it). The
     * deadline only turns a hang into a clear failure: with re-checks an hour apart, a socket
     * still open after it was never reached by the revocation.
     */
    const closedWithTime = (socket: TestSocket) =>
      new Promise<{ readonly code: number; readonly at: number }>((done, fail) => {
        const timer = setTimeout(() => fail(new Error("the socket was not closed by the revocation")), 30_000)
        void socket.closed.then((c) => {
          clearTimeout(timer)
          done({ code: c.code, at: Date.now() })
        })
      })
    /**
     * Prints how long the close took. Most of the time from the command's start is Node
     * loading the CLI; a close before the command's exit means the server closed the socket
     * before (or while) answering the command's request.
     */
    const report = (what: string, run: CliRun, closed: { readonly at: number }) =>
      console.log(
        `[${backend.name}${options.twoNodes ? ", socket on node B, command via node A" : ""}] ${what}: ` +
          `socket closed 4003 ${closed.at - run.startedAt} ms after parley-admin started, ` +
          `${closed.at - run.exitedAt} ms relative to its exit`
      )
    /** Each change the CLI made, as [action, target id], to compare with the audit log. */
    const done: Array<readonly [string, string]> = []

    beforeAll(async () => {
      // Periodic re-checks are pushed out of reach: a socket that closes did so on the revocation.
      const env = { WS_REAUTH_INTERVAL: "1 hour" }
      a = await startServer(backend, env)
      b = options.twoNodes ? await startAnotherNode(backend, a, env) : a
      root = await account(a.url, "root")
      alice = await account(a.url, "alice")
      bob = await account(a.url, "bob")
    })

    afterAll(async () => {
      if (b !== a) await b?.stop()
      await a?.stop()
      rmSync(configHome, { recursive: true, force: true })
    })

    it("without a saved login, commands exit 3", async () => {
      const run = await admin(["users", "list"])
      expect(run.code).toBe(3)
      expect(run.stderr).toBe(
        `parley-admin: error: not logged in to ${a.url}: run \`parley-admin login\` or pass --token\n`
      )
    })

    it("a non-admin can log in, but every admin command exits 4", async () => {
      const loggedIn = await admin(["login", "-u", root.username, "--password-stdin"], `${password}\n`)
      expect(loggedIn.code, loggedIn.stderr).toBe(0)
      expect(loggedIn.stderr).toContain("is not an admin")
      for (const args of [["users", "list"], ["audit"], ["users", "disable", alice.id]]) {
        const run = await admin(args)
        expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(4)
        expect(run.stderr).toMatch(/^parley-admin: error: .*\[403 forbidden\]\n$/)
      }
      // The same through --token, with someone else's access token.
      const withToken = await runCli(["--server", a.url, "--token", alice.token, "stats"], {
        XDG_CONFIG_HOME: configHome
      })
      expect(withToken.code).toBe(4)
    })

    it("a token the server does not accept exits 3", async () => {
      const run = await runCli(["--server", a.url, "--token", "not-a-jwt", "stats"], { XDG_CONFIG_HOME: configHome })
      expect(run.code).toBe(3)
    })

    it("bootstrap-admin promotes an existing user straight in storage, while the server runs", async () => {
      const missing = await runCli(["bootstrap-admin", "nobody-here"], storageEnv(a))
      expect(missing.code, missing.stderr).toBe(5)
      const run = await runCli(["bootstrap-admin", root.username], storageEnv(a))
      expect(run.code, run.stderr).toBe(0)
      expect(run.stdout).toBe(`${root.username} (${root.id}) is now an admin (recorded as operator@${hostname()}).\n`)
      done.push(["user.bootstrap_admin", root.id])
      const again = await runCli(["bootstrap-admin", root.username], storageEnv(a))
      expect(again.stdout).toContain("is already an admin")
    })

    it("login saves the session 0600; users list --json is the API's list object", async () => {
      const loggedIn = await admin(["login", "-u", root.username, "--password-stdin"], `${password}\n`)
      expect(loggedIn.code, loggedIn.stderr).toBe(0)
      expect(loggedIn.stdout).toBe(`Logged in to ${a.url} as ${root.username} (role admin).\n`)
      expect(statSync(join(configHome, "parley", "admin.json")).mode & 0o777).toBe(0o600)

      const list = json(await admin(["users", "list", "--json", "--all"]))
      expect(Object.keys(list)).toEqual(["users", "next_cursor"])
      expect(list.next_cursor).toBeNull()
      const byName = new Map<string, any>(list.users.map((u: any) => [u.username, u]))
      expect(byName.get(root.username)).toMatchObject({ id: root.id, role: "admin", disabled: false })
      expect(byName.get(alice.username)).toMatchObject({ id: alice.id, role: "user", disabled: false })
      expect(Object.keys(byName.get(alice.username))).toEqual([
        "id",
        "username",
        "email",
        "role",
        "disabled",
        "created_at",
        "updated_at"
      ])

      // Paging: one user per page, following the cursor, finds the same users in the same order.
      const first = json(await admin(["users", "list", "--json", "--limit", "1"]))
      expect(first.users).toHaveLength(1)
      expect(first.users[0].username).toBe(list.users[0].username)
      const second = json(await admin(["users", "list", "--json", "--limit", "1", "--cursor", first.next_cursor]))
      expect(second.users[0].username).toBe(list.users[1].username)

      const search = json(await admin(["users", "list", "--json", "--query", alice.username]))
      expect(search.users.map((u: any) => u.id)).toEqual([alice.id])

      const table = await admin(["users", "list", "--query", alice.username])
      expect(table.code).toBe(0)
      expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+USERNAME\s+EMAIL\s+ROLE\s+STATUS\s+CREATED$/)
      expect(table.stdout).toContain(alice.username)
    })

    it("<user> is an id, a username or an email; an unknown one exits 5", async () => {
      for (const who of [alice.id, alice.username, `${alice.username}@example.com`, alice.username.toUpperCase()]) {
        expect(json(await admin(["users", "show", who, "--json"])).id).toBe(alice.id)
      }
      expect((await admin(["users", "show", "nobody-at-all"])).code).toBe(5)
      expect((await admin(["users", "show", "0b7c5d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"])).code).toBe(5)
      expect((await admin(["sessions", "revoke-all", "nobody@example.com"])).code).toBe(5)
    })

    it("disabling a connected user closes their socket (4003) at once, and their refresh and old access token fail", async () => {
      const socket = await connect(b.url, { token: alice.token })
      const closed = closedWithTime(socket)
      const run = await admin(["users", "disable", alice.username, "--json"])
      expect(json(run)).toMatchObject({ id: alice.id, disabled: true })
      expect((await closed).code).toBe(4003)
      report("disable", run, await closed)
      done.push(["user.disable", alice.id])

      const refresh = await request(a.url, "POST", "/api/refresh", { body: { refresh_token: alice.refreshToken } })
      expect(refresh.status).toBe(401)
      for (const node of new Set([a.url, b.url])) {
        expect((await request(node, "GET", "/api/me", { token: alice.token })).status).toBe(401)
      }
      const relogin = await request(a.url, "POST", "/login", {
        body: { email_or_username: alice.username, password }
      })
      expect(relogin.status).toBe(403)
      await expect(connect(b.url, { token: alice.token })).rejects.toMatchObject({ status: 401 })

      expect(json(await admin(["users", "show", alice.username, "--json"])).disabled).toBe(true)
      expect(json(await admin(["users", "enable", alice.username, "--json"])).disabled).toBe(false)
      done.push(["user.enable", alice.id])
      expect((await login(a.url, alice.username)).token).toBeTruthy()
    })

    it("sessions list, revoke one (only that one dies), revoke-all (sockets close 4003)", async () => {
      const second = await login(a.url, bob.username)
      const list = json(await admin(["sessions", "list", bob.username, "--json"]))
      expect(Object.keys(list)).toEqual(["sessions"])
      const ids = list.sessions.map((s: any) => s.id)
      expect(ids).toEqual(expect.arrayContaining([bob.sessionId, second.sessionId]))

      const revoke = await admin(["sessions", "revoke", bob.username, second.sessionId])
      expect(revoke.code, revoke.stderr).toBe(0)
      done.push(["session.revoke", second.sessionId])
      expect((await request(a.url, "GET", "/api/me", { token: second.token })).status).toBe(401)
      expect((await request(a.url, "GET", "/api/me", { token: bob.token })).status).toBe(200)
      expect((await admin(["sessions", "revoke", bob.username, second.sessionId])).code).not.toBe(0)

      const socket = await connect(b.url, { token: bob.token })
      const closed = closedWithTime(socket)
      const all = await admin(["sessions", "revoke-all", bob.id, "--json"])
      expect(json(all).revoked).toBeGreaterThanOrEqual(1)
      expect((await closed).code).toBe(4003)
      report("revoke-all", all, await closed)
      done.push(["session.revoke_all", bob.id])
      const refresh = await request(a.url, "POST", "/api/refresh", { body: { refresh_token: bob.refreshToken } })
      expect(refresh.status).toBe(401)
      expect((await request(b.url, "GET", "/api/me", { token: bob.token })).status).toBe(401)
      expect(json(await admin(["sessions", "list", bob.username, "--json"])).sessions).toEqual([])
    })

    it("rooms: list shows private rooms, show lists members, archive is read-only, delete needs --yes", async () => {
      const owner = { ...alice, ...(await login(a.url, alice.username)) }
      const roomId = await createRoom(a.url, owner, "private")
      const rooms = json(await admin(["rooms", "list", "--all", "--json"]))
      expect(Object.keys(rooms)).toEqual(["rooms", "next_cursor"])
      expect(rooms.rooms.find((r: any) => r.room_id === roomId)).toMatchObject({
        visibility: "private",
        archived: false
      })

      const shown = json(await admin(["rooms", "show", roomId, "--json"]))
      expect(shown.room.room_id).toBe(roomId)
      expect(shown.members.map((m: any) => m.user_id)).toEqual([alice.id])

      expect(json(await admin(["rooms", "archive", roomId, "--json"])).archived).toBe(true)
      done.push(["room.archive", roomId])
      const post = await request(a.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
        token: owner.token,
        body: { content: "still here?" }
      })
      expect(post.status).toBe(403)

      const refused = await admin(["rooms", "delete", roomId])
      expect(refused.code).toBe(2)
      expect(refused.stderr).toContain("--yes")
      const deleted = await admin(["rooms", "delete", roomId, "--yes"])
      expect(deleted.code, deleted.stderr).toBe(0)
      done.push(["room.delete", roomId])
      expect((await admin(["rooms", "show", roomId])).code).toBe(5)
      expect((await admin(["rooms", "archive", roomId])).code).toBe(5)
      // A room reading as gone is still sent the DELETE with --yes; nothing is left, so 404.
      const again = await admin(["rooms", "delete", roomId, "--yes"])
      expect(again.code, again.stderr).toBe(5)
      expect(again.stderr).toContain("[404 ")
    })

    it("set-role makes an admin, who can then use the CLI with --token", async () => {
      expect(json(await admin(["users", "set-role", bob.username, "admin", "--json"])).role).toBe("admin")
      done.push(["user.set_role", bob.id])
      const bobNow = await login(a.url, bob.username)
      const run = await runCli(["--server", a.url, "--token", bobNow.token, "stats", "--json"], {
        XDG_CONFIG_HOME: configHome
      })
      expect(json(run)).toMatchObject({ users: expect.any(Number) })
    })

    it("stats counts users, rooms, today's messages and sockets", async () => {
      const stats = json(await admin(["stats", "--json"]))
      expect(Object.keys(stats)).toEqual(["users", "rooms", "messages_today", "sockets_connected"])
      expect(stats.users).toBeGreaterThanOrEqual(3)
      const table = await admin(["stats"])
      expect(table.stdout).toMatch(/^users:\s+\d+\n/)
    })

    it("audit --json shows each action, newest first, with who, to whom and the request id", async () => {
      const page = json(await admin(["audit", "--json", "--limit", "100"]))
      expect(Object.keys(page)).toEqual(["entries", "next_cursor"])
      const entries = [...page.entries].reverse()
      expect(entries.map((e: any) => [e.action, e.target_id])).toEqual(done)
      const [bootstrap, ...viaHttp] = entries
      expect(bootstrap).toMatchObject({ actor: `operator@${hostname()}`, actor_id: null, request_id: null })
      for (const entry of viaHttp) {
        expect(entry).toMatchObject({ actor: root.username, actor_id: root.id })
        expect(entry.request_id).toEqual(expect.any(String))
      }
      const table = await admin(["audit", "--limit", "2"])
      expect(table.stdout.split("\n")[0]).toMatch(/^AT\s+ACTOR\s+ACTION\s+TARGET\s+DETAIL\s+REQUEST$/)
      expect(table.stdout).toMatch(/Older: --before [0-9a-f-]{36}\n$/)
    })

    it("logout ends the session on the server; later commands exit 3", async () => {
      const out = await admin(["logout"])
      expect(out.code, out.stderr).toBe(0)
      expect((await admin(["stats"])).code).toBe(3)
    })
  })
