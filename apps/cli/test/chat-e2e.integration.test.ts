/**
 * `parley` end to end, in real terminals: a real server process (SQLite), two clients in tmux
 * signed in as different users in one room. One types, the other sees the typing indicator
 * and the message; then the server is killed (SIGKILL) and restarted on the same port and
 * database, and both clients must reconnect and show every message exactly once, including
 * one stored while they were away (replayed by `channel.resume`). Last, an admin disables one
 * of them with `parley-admin`, and that client must end at once.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request } from "../../server/test/support/http.ts"
import { type Backend, type RunningServer, sqliteBackend, startServer } from "../../server/test/support/server.ts"
import { hasTmux, occurrences, Tmux } from "./chat-tmux.ts"

const parley = resolve(import.meta.dirname, "../src/chat/main.ts")
const parleyAdmin = resolve(import.meta.dirname, "../src/admin/main.ts")
const password = "correct horse battery"
const unique = Date.now().toString(36)
const users = { alice: `alice_${unique}`, bob: `bob_${unique}` }
const roomName = `lobby-${unique}`

describe("parley in a terminal (tmux)", () => {
  const tmux = new Tmux()
  const dataDir = mkdtempSync(join(tmpdir(), "parley-chat-e2e-"))
  const configs = {
    alice: mkdtempSync(join(tmpdir(), "parley-chat-a-")),
    bob: mkdtempSync(join(tmpdir(), "parley-chat-b-")),
    admin: mkdtempSync(join(tmpdir(), "parley-chat-admin-"))
  }
  // One database directory for both server runs, so the restart finds what was stored.
  // No periodic session re-check: a revoked client can only be ended by the revocation itself.
  const backend: Backend = {
    ...sqliteBackend,
    env: () => ({ PARLEY_STORAGE: "sqlite", PARLEY_DATA_DIR: dataDir, WS_REAUTH_INTERVAL: "1 hour" })
  }
  let server: RunningServer
  let aliceToken: string
  let roomId: string

  const signIn = (who: "alice" | "bob") =>
    execFileSync(process.execPath, [parley, "--server", server.url, "--username", users[who], "--password-stdin"], {
      input: `${password}\n`,
      env: { ...process.env, XDG_CONFIG_HOME: configs[who] },
      encoding: "utf8"
    })

  const open = (who: "alice" | "bob") =>
    tmux.start(who, `${process.execPath} ${parley} --room ${roomName}`, {
      XDG_CONFIG_HOME: configs[who],
      PARLEY_URL: server.url,
      PATH: process.env.PATH ?? ""
    })

  const connected = (screen: string) => screen.includes("● connected")
  const bobToken = async () =>
    (await request(server.url, "POST", "/login", { body: { email_or_username: users.bob, password } })).body as {
      token: string
    }

  beforeAll(async () => {
    if (!hasTmux())
      throw new Error("tmux is not installed: apt-get install tmux (npm test installs it when run as root)")
    server = await startServer(backend)
    for (const who of ["alice", "bob"] as const) {
      const signup = await request(server.url, "POST", "/signup", {
        body: { username: users[who], email: `${users[who]}@example.com`, password }
      })
      expect(signup.status).toBe(201)
    }
    const login = await request(server.url, "POST", "/login", {
      body: { email_or_username: users.alice, password }
    })
    aliceToken = login.body.token
    const room = await request(server.url, "POST", "/api/chat/rooms", { token: aliceToken, body: { name: roomName } })
    expect(room.status).toBe(201)
    roomId = room.body.room_id
  })

  afterAll(async () => {
    tmux.kill()
    await server?.stop()
    for (const dir of [dataDir, configs.alice, configs.bob, configs.admin])
      rmSync(dir, { recursive: true, force: true })
  })

  it("signs in from a script with --password-stdin", () => {
    expect(signIn("alice")).toContain(`signed in to ${server.url} as ${users.alice}`)
    expect(signIn("bob")).toContain(`as ${users.bob}`)
  })

  it("shows one user's typing and message on the other's screen", async () => {
    open("alice")
    open("bob")
    // Both in the room, connected, and each sees the other online.
    for (const who of ["alice", "bob"] as const) {
      await tmux.waitFor(
        who,
        "the room, connected, with both online",
        (s) => connected(s) && s.includes(`#${roomName}`) && s.includes(users.alice) && s.includes(users.bob)
      )
    }

    tmux.type("alice", "hello from alice")
    await tmux.waitFor("bob", "alice's typing indicator", (s) => s.includes(`${users.alice} is typing…`))
    tmux.key("alice", "Enter")
    await tmux.waitFor("bob", "alice's message", (s) => s.includes(`${users.alice} hello from alice`))
    await tmux.waitFor("bob", "the typing indicator to clear", (s) => !s.includes("is typing…"))

    tmux.type("bob", "hi alice, bob here")
    tmux.key("bob", "Enter")
    await tmux.waitFor("alice", "bob's reply", (s) => s.includes(`${users.bob} hi alice, bob here`))
  })

  it("reconnects both clients after the server is killed and restarted, each message shown once", async () => {
    await server.crash()
    for (const who of ["alice", "bob"] as const) {
      await tmux.waitFor(who, "the connection to drop", (s) => s.includes("offline"))
    }
    server = await startServer(backend, { PORT: new URL(server.url).port })
    // Stored while both are away: only channel.resume can bring it to them.
    const away = await request(server.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
      token: aliceToken,
      body: { content: "sent while you were away" }
    })
    expect(away.status).toBe(201)

    for (const who of ["alice", "bob"] as const) {
      await tmux.waitFor(who, "the reconnect", (s) => connected(s) && s.includes("sent while you were away"))
    }
    tmux.type("alice", "after the restart, alice")
    tmux.key("alice", "Enter")
    tmux.type("bob", "after the restart, bob")
    tmux.key("bob", "Enter")

    const lines = [
      `${users.alice} hello from alice`,
      `${users.bob} hi alice, bob here`,
      `${users.alice} sent while you were away`,
      `${users.alice} after the restart, alice`,
      `${users.bob} after the restart, bob`
    ]
    for (const who of ["alice", "bob"] as const) {
      const history = await tmux.waitFor(
        who,
        "every message, once each",
        (s) => lines.every((line) => s.includes(line)) && !s.includes("sending"),
        { history: true }
      )
      for (const line of lines) expect(occurrences(history, line), `${who}: "${line}"`).toBe(1)
      // In order, as stored.
      const positions = lines.map((line) => history.indexOf(line))
      expect(
        [...positions].sort((a, b) => a - b),
        `${who}: order`
      ).toEqual(positions.filter((p) => p >= 0))
    }
    if (process.env.PARLEY_E2E_SHOW === "1") console.log(tmux.screen("bob"))
  })

  it("the room list shows how many entries bob has not read; opening the room reads them", async () => {
    /** The room's line on the list: its unread count (blank when none) before the name. */
    const lobbyLine = (s: string) => s.split("\n").find((line) => line.includes(`#${roomName}`) && !line.includes("──"))
    const unreadOf = (s: string) => lobbyLine(s)?.match(/(\d+\+?) #/)?.[1] ?? null
    // Leaving the room reports what bob read in it: nothing is unread.
    tmux.type("bob", "/rooms")
    tmux.key("bob", "Enter")
    await tmux.waitFor("bob", "the room list, all read", (s) => s.includes("Rooms") && lobbyLine(s) !== undefined)
    await tmux.waitFor("bob", "no unread count", (s) => unreadOf(s) === null)
    // Two messages while bob looks at the list; the list as loaded again counts them.
    for (const content of ["unread one", "unread two"]) {
      const sent = await request(server.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
        token: aliceToken,
        body: { content }
      })
      expect(sent.status).toBe(201)
    }
    tmux.type("bob", "/rooms")
    tmux.key("bob", "Enter")
    await tmux.waitFor("bob", "the count of 2", (s) => unreadOf(s) === "2")
    // Opening the room reads them (read.mark over the socket); back on the list, the count is gone.
    tmux.key("bob", "Enter")
    await tmux.waitFor("bob", "the room with the new messages", (s) => connected(s) && s.includes("unread two"))
    tmux.type("bob", "/rooms")
    tmux.key("bob", "Enter")
    await tmux.waitFor("bob", "the list with nothing unread", (s) => lobbyLine(s) !== undefined && unreadOf(s) === null)
    const listed = await request(server.url, "GET", "/api/chat/rooms", { token: (await bobToken()).token })
    expect(listed.body.rooms.find((r: { room_id: string }) => r.room_id === roomId)).toMatchObject({ unread: 0 })
    // Back in the room for what follows.
    tmux.key("bob", "Enter")
    await tmux.waitFor("bob", "the room again", (s) => connected(s) && s.includes(`#${roomName}`))
  })

  it("alice edits and then deletes her last message; bob's screen shows each change", async () => {
    // Alice's newest message in the room is "unread two" (sent over HTTP as her, shown live).
    await tmux.waitFor("alice", "alice's newest message", (s) => connected(s) && s.includes("unread two"))
    tmux.type("alice", "/edit unread two, now edited")
    tmux.key("alice", "Enter")
    await tmux.waitFor("bob", "the edit", (s) => s.includes(`${users.alice} unread two, now edited (edited)`))
    tmux.type("alice", "/delete")
    tmux.key("alice", "Enter")
    await tmux.waitFor("bob", "the tombstone", (s) => s.includes(`${users.alice} message deleted`))
    await tmux.waitFor("alice", "her own screen too", (s) => s.includes(`${users.alice} message deleted`))
    const page = await request(server.url, "GET", `/api/chat/rooms/${roomId}/messages?limit=3`, { token: aliceToken })
    expect(page.body.messages.map((m: { kind: string }) => m.kind)).toEqual(["delete", "edit", "message"])
  })

  it("/dm: alice opens a direct room with bob and writes; bob finds it as @alice and answers in it", async () => {
    tmux.type("alice", `/dm ${users.bob}`)
    tmux.key("alice", "Enter")
    await tmux.waitFor("alice", "the direct room", (s) => connected(s) && s.includes(`── @${users.bob} ──`))
    tmux.type("alice", "psst, just you and me")
    tmux.key("alice", "Enter")
    await tmux.waitFor(
      "alice",
      "her message stored",
      (s) => s.includes("psst, just you and me") && !s.includes("sending")
    )

    tmux.type("bob", "/rooms")
    tmux.key("bob", "Enter")
    await tmux.waitFor("bob", "the direct room in his list, named by alice", (s) => s.includes(`@${users.alice}`))
    tmux.type("bob", `/dm @${users.alice}`)
    tmux.key("bob", "Enter")
    await tmux.waitFor(
      "bob",
      "the same room with alice's message",
      (s) => connected(s) && s.includes(`── @${users.alice} ──`) && s.includes(`${users.alice} psst, just you and me`)
    )
    tmux.type("bob", "got it")
    tmux.key("bob", "Enter")
    await tmux.waitFor("alice", "bob's answer, live", (s) => s.includes(`${users.bob} got it`))
    const direct = (await request(server.url, "GET", "/api/chat/rooms", { token: aliceToken })).body.rooms.filter(
      (r: { kind: string }) => r.kind === "direct"
    )
    expect(direct.map((r: { name: string }) => r.name)).toEqual([users.bob])
  })

  it("ends bob's open parley at once when an admin disables him with parley-admin", async () => {
    const admin = (args: ReadonlyArray<string>, input?: string) =>
      execFileSync(process.execPath, [parleyAdmin, ...args], {
        ...(input === undefined ? {} : { input }),
        env: { ...process.env, XDG_CONFIG_HOME: configs.admin, PARLEY_STORAGE: "sqlite", PARLEY_DATA_DIR: dataDir },
        encoding: "utf8"
      })
    admin(["bootstrap-admin", users.alice])
    admin(["login", "--server", server.url, "-u", users.alice, "--password-stdin"], `${password}\n`)
    expect(tmux.screen("bob")).toContain("● connected")
    admin(["users", "disable", users.bob])
    const disabledAt = Date.now()
    const screen = await tmux.waitFor("bob", "parley to end with exit code 3", (s) =>
      s.includes("[parley exited with 3]")
    )
    console.log(`bob's parley ended ${Date.now() - disabledAt} ms after parley-admin users disable returned`)
    expect(screen).toContain("signed out (session revoked or account disabled)")
    // Alice, still signed in, keeps chatting.
    expect(tmux.screen("alice")).toContain("● connected")
  })
})
