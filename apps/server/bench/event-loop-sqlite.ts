/**
 * `node apps/server/bench/event-loop-sqlite.ts`: how long a SQLite server's event loop is held
 * up (p99 of `monitorEventLoopDelay`, measured inside the server process) in two phases:
 *   1. write storm: many WebSocket senders over a few rooms, each keeping sends in flight;
 *   2. held lock: the same storm while another process (this one) holds `BEGIN IMMEDIATE` on
 *      the database, as `parley-admin` or a backup tool might. A synchronous busy wait in the
 *      server would freeze every socket for as long as the lock is held.
 * During both, an idle socket pings the server every 20 ms: its slowest pong says whether
 * other sockets were still served. Prints one JSON line per phase. Issue 9's bound: 20 ms.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { DatabaseSync } from "node:sqlite"
import WebSocket from "ws"

const senders = Number(process.env.BENCH_SENDERS ?? 40)
const rooms = Number(process.env.BENCH_ROOMS ?? 8)
const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? 10)
const phaseMs = Number(process.env.BENCH_PHASE_MS ?? 4000)
const lockMs = Number(process.env.BENCH_LOCK_MS ?? 3000)

const main = resolve(import.meta.dirname, "../src/main.ts")
const monitor = resolve(import.meta.dirname, "event-loop-monitor.ts")

const freePort = () =>
  new Promise<number>((done, fail) => {
    const server = createServer()
    server.once("error", fail)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => done(typeof address === "object" && address ? address.port : 0))
    })
  })

const post = async (base: string, path: string, body: unknown, token?: string) => {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body)
  })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
  return (await response.json()) as any
}

const account = async (base: string, n: number) => {
  const username = `bench${Date.now().toString(36)}${n}`
  await post(base, "/signup", { username, email: `${username}@example.com`, password: "secret12" })
  return (await post(base, "/login", { email_or_username: username, password: "secret12" })).token as string
}

const open = (base: string, token: string) =>
  new Promise<WebSocket>((done, fail) => {
    const ws = new WebSocket(`${base.replace("http", "ws")}/ws?token=${token}`)
    ws.once("open", () => done(ws))
    ws.once("error", fail)
  })

/** Asks the server's preloaded monitor (see `event-loop-monitor.ts`) and waits for its answer. */
const ask = (server: ChildProcess, message: "reset" | "report") =>
  new Promise<any>((done) => {
    server.once("message", done)
    server.send(message)
  })

const startServer = async (dataDir: string) => {
  const port = await freePort()
  // BENCH_CPU_PROF=<dir>: the server also writes a V8 CPU profile there, to see where the time goes.
  const profile = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : []
  const server = spawn(process.execPath, [...profile, "--import", monitor, main], {
    env: {
      PATH: process.env.PATH ?? "",
      PORT: String(port),
      HOST: "127.0.0.1",
      PARLEY_STORAGE: "sqlite",
      PARLEY_DATA_DIR: dataDir,
      JWT_SECRET: "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
      // Not read here; a free port keeps it clear of any other server's /metrics listener.
      METRICS_PORT: "0",
      RATE_SIGNUP_PER_IP: "100000",
      RATE_LOGIN_PER_IP: "100000",
      RATE_MESSAGES_PER_USER: "100000000",
      LOG_LEVEL: "Error"
    },
    stdio: ["ignore", "ignore", "inherit", "ipc"]
  })
  const base = `http://127.0.0.1:${port}`
  for (;;) {
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}`)
    if (
      await fetch(`${base}/healthz`).then(
        (r) => r.ok,
        () => false
      )
    )
      return { server, base }
    await new Promise((r) => setTimeout(r, 200))
  }
}

interface Counts {
  acked: number
  unavailable: number
  other: number
}

const run = async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "parley-bench-loop-"))
  const { server, base } = await startServer(dataDir)
  try {
    const tokens = await Promise.all(Array.from({ length: senders }, (_, n) => account(base, n)))
    const roomIds: Array<string> = []
    for (let r = 0; r < rooms; r++) {
      roomIds.push((await post(base, "/api/chat/rooms", { name: `bench-${r}` }, tokens[r % senders])).room_id)
    }
    for (let s = 0; s < senders; s++) {
      const roomId = roomIds[s % rooms]!
      await fetch(`${base}/api/chat/rooms/${roomId}/join`, {
        method: "POST",
        headers: { authorization: `Bearer ${tokens[s]}` }
      })
    }
    const counts: Counts = { acked: 0, unavailable: 0, other: 0 }
    let sending = true
    let sent = 0
    const sockets = await Promise.all(
      tokens.map(async (token, s) => {
        const ws = await open(base, token)
        const roomId = roomIds[s % rooms]!
        const sendOne = () => {
          if (!sending) return
          ws.send(JSON.stringify({ type: "chat.message", id: `m${sent}`, to: roomId, payload: { text: `m${sent++}` } }))
        }
        ws.on("message", (data) => {
          const event = JSON.parse(data.toString())
          if (event.type === "ack" && event.payload?.of === "chat.message") counts.acked++
          else if (event.type === "error" && event.payload?.code === "service_unavailable") counts.unavailable++
          else if (event.type === "error") counts.other++
          else return
          sendOne()
        })
        return { ws, start: () => Array.from({ length: inFlight }, sendOne) }
      })
    )
    // The idle socket: a ping every 20 ms carrying its send time, the slowest pong of the phase kept.
    const idle = await open(base, tokens[0]!)
    let slowestPong = 0
    idle.on("message", (data) => {
      const event = JSON.parse(data.toString())
      if (event.type === "pong") slowestPong = Math.max(slowestPong, Date.now() - Number(event.id))
    })
    const pinger = setInterval(() => idle.send(JSON.stringify({ type: "ping", id: String(Date.now()) })), 20)

    const phase = async (name: string, during: () => Promise<void>) => {
      const before = { ...counts }
      slowestPong = 0
      await ask(server, "reset")
      await during()
      // A loop that was frozen records its delay when it runs again: give it the time to.
      await new Promise((r) => setTimeout(r, 500))
      const loop = await ask(server, "report")
      console.log(
        JSON.stringify({
          phase: name,
          eventLoopDelayMs: loop,
          slowestPongMs: slowestPong,
          acked: counts.acked - before.acked,
          serviceUnavailable: counts.unavailable - before.unavailable,
          otherErrors: counts.other - before.other
        })
      )
    }
    for (const socket of sockets) socket.start()
    await phase("write storm", () => new Promise((r) => setTimeout(r, phaseMs)))
    await phase("held lock", async () => {
      const holder = new DatabaseSync(join(dataDir, "parley.db"))
      // The server writes all the time: wait for a gap between its transactions.
      holder.exec("PRAGMA busy_timeout = 5000")
      holder.exec("BEGIN IMMEDIATE")
      await new Promise((r) => setTimeout(r, lockMs))
      holder.exec("ROLLBACK")
      holder.close()
    })
    sending = false
    clearInterval(pinger)
    for (const { ws } of sockets) ws.close()
    idle.close()
  } finally {
    server.kill("SIGTERM")
    await new Promise((r) => server.once("exit", r))
    rmSync(dataDir, { recursive: true, force: true })
  }
}

await run()
