/**
 * Shared pieces of the profiling scripts: a Parley server on SQLite started as its own
 * process (so /proc shows only its CPU and memory), accounts made through the public HTTP API,
 * and the server's CPU time and RSS read from /proc.
 */
import { type ChildProcess, fork, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { serverNodeFlags } from "../../src/node-flags.ts"

/** `PROFILE_SERVER_MAIN` measures another checkout (e.g. a `git archive` of the commit before a change). */
const main = process.env.PROFILE_SERVER_MAIN ?? resolve(import.meta.dirname, "../../src/main.ts")

export const freePort = () =>
  new Promise<number>((done, fail) => {
    const server = createServer()
    server.once("error", fail)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => done(typeof address === "object" && address ? address.port : 0))
    })
  })

export interface Server {
  readonly pid: number
  readonly url: string
  readonly wsUrl: string
  readonly inspectPort: number | null
  readonly output: () => string
  /** SIGTERM, then waits for the exit (a --cpu-prof profile is written on a clean exit only). */
  readonly stop: () => Promise<void>
}

/** Starts `main.ts` on a fresh SQLite folder with rate limits out of the way. */
export const startServer = async (
  options: {
    readonly nodeFlags?: ReadonlyArray<string>
    readonly inspect?: boolean
    readonly env?: Record<string, string>
    /** The server entry point; default `PROFILE_SERVER_MAIN` or this checkout's. */
    readonly main?: string
  } = {}
): Promise<Server> => {
  const port = await freePort()
  const inspectPort = options.inspect ? await freePort() : null
  const dataDir = mkdtempSync(join(tmpdir(), "parley-profile-"))
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    PORT: String(port),
    HOST: "127.0.0.1",
    PARLEY_STORAGE: "sqlite",
    PARLEY_DATA_DIR: dataDir,
    JWT_SECRET: "profile-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
    ACCESS_TOKEN_TTL: "1 hour",
    RATE_LOGIN_PER_IP: "1000000",
    RATE_LOGIN_PER_ACCOUNT: "1000000",
    RATE_SIGNUP_PER_IP: "1000000",
    RATE_REFRESH_PER_IP: "1000000",
    RATE_MESSAGES_PER_USER: "1000000",
    RATE_ROOMS_PER_USER: "1000000",
    // Caps of later versions (ignored by earlier ones): the scripts spread sockets over few users.
    WS_MAX_CONNECTIONS_PER_USER: "1000000",
    LOG_LEVEL: "Warn",
    // Servers run side by side (fanout-ab): each takes a free port for /metrics.
    METRICS_PORT: "0",
    ...options.env
  }
  // As `npm start` runs it; flags given here come after, and so win.
  const flags = [
    ...serverNodeFlags(),
    ...(options.nodeFlags ?? []),
    ...(inspectPort === null ? [] : [`--inspect=127.0.0.1:${inspectPort}`])
  ]
  let output = ""
  const child: ChildProcess = spawn(process.execPath, [...flags, options.main ?? main], {
    env,
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout?.on("data", (chunk) => {
    output += chunk
  })
  child.stderr?.on("data", (chunk) => {
    output += chunk
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 120_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`)
    if (Date.now() > deadline) throw new Error(`server did not answer /healthz:\n${output}`)
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false
    )
    if (ok) break
    await new Promise((r) => setTimeout(r, 200))
  }
  return {
    pid: child.pid!,
    url,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    inspectPort,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r))
        child.kill("SIGTERM")
        await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))])
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      }
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

const post = async (url: string, body: unknown, token?: string) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body)
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${text}`)
  return JSON.parse(text) as any
}

export interface Account {
  readonly userId: string
  readonly username: string
  readonly token: string
}

/** Signs up and logs in `count` users, a few at a time (each costs two argon2 hashes). */
export const makeAccounts = async (server: Server, count: number, prefix = "p") => {
  const accounts: Array<Account> = []
  const run = Math.random().toString(36).slice(2, 7)
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const username = `${prefix}${run}_${i}`
      const password = "profile-password"
      await post(`${server.url}/signup`, { username, email: `${username}@example.com`, password })
      const login = await post(`${server.url}/login`, { email_or_username: username, password })
      accounts.push({ userId: login.user.user_id, username, token: login.token })
    }
  }
  await Promise.all(Array.from({ length: 4 }, worker))
  return accounts
}

export const createRoom = async (server: Server, owner: Account, name = "profile room") =>
  (await post(`${server.url}/api/chat/rooms`, { name, visibility: "public" }, owner.token)).room_id as string

/** utime + stime of a process in ms (clock ticks are 100 Hz on Linux). */
export const cpuMs = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** CPU milliseconds of each of a process's threads, summed by thread name (main loop, workers, GC, thread pool). */
export const cpuMsByThread = (pid: number) => {
  const byName: Record<string, number> = {}
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      byName[name] = (byName[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return byName
}

/** Resident set size of a process, in bytes. */
export const rssBytes = (pid: number) => statusKb(pid, "VmRSS") * 1024

/**
 * Its anonymous part (heaps, malloc, stacks), in bytes: what sockets cost. The file-backed part
 * (the node binary's pages) moves when the kernel reclaims page cache on a busy machine.
 */
export const rssAnonBytes = (pid: number) => statusKb(pid, "RssAnon") * 1024

const statusKb = (pid: number, field: string) => {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return Number(match?.[1] ?? 0)
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`

/** The load generator as a child process; `call` sends one command and waits for its answer. */
export const startClients = () => {
  const child = fork(resolve(import.meta.dirname, "clients.ts"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  let queue = Promise.resolve<unknown>(undefined)
  const call = <A = any>(command: Record<string, unknown>): Promise<A> => {
    const result = queue.then(
      () =>
        new Promise<A>((done) => {
          child.once("message", (message) => done(message as A))
          child.send(command)
        })
    )
    queue = result.catch(() => undefined)
    return result
  }
  return { pid: child.pid!, call, kill: () => child.kill("SIGKILL") }
}

/** The realtime bench's raw `ws` broadcast peer (no auth, no storage), when it is in the tree. */
export const startPeer = async () => {
  const port = await freePort()
  const child = spawn(process.execPath, [resolve(import.meta.dirname, "../realtime/peers/ws-peer.ts"), String(port)], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  await new Promise<void>((done, fail) => {
    child.stdout?.on("data", (chunk) => {
      if (String(chunk).includes("listening")) done()
    })
    child.once("exit", (code) => fail(new Error(`ws peer exited with ${code}`)))
  })
  return { pid: child.pid!, wsUrl: `ws://127.0.0.1:${port}`, stop: () => child.kill("SIGKILL") }
}

export interface WindowResult {
  readonly rate: number
  readonly sent: number
  readonly acked: number
  readonly errors: number
  readonly errorCodes: Record<string, number>
  readonly deliveries: number
  readonly loss: number
  readonly cpuMs: number
  readonly usPerDelivery: number
  readonly p50: number | null
  readonly p99: number | null
}

/**
 * One fan-out window at `rate` msg/s: one sender, `subscribers` sockets already in the room
 * (opened by `clients`); CPU of `pid` over the window, per message the clients received.
 */
export const fanoutWindow =
  (
    clients: ReturnType<typeof startClients>,
    target: {
      readonly pid: number
      readonly url: string
      readonly token: string
      readonly roomId: string
      readonly subscribers: number
      readonly seconds: number
      readonly bytes: number
    }
  ) =>
  async (rate: number): Promise<WindowResult> => {
    const { pid, url, token, roomId, subscribers, seconds, bytes } = target
    const before = await clients.call({ cmd: "stats" })
    const cpu0 = cpuMs(pid)
    const sent = await clients.call({ cmd: "send", url, token, roomId, rate, seconds, bytes })
    // Until every delivery has arrived (or 5 s more), so a backlog is not counted in the next window.
    const expected = (sent.acked > 0 ? sent.acked : sent.sent) * subscribers
    for (let waited = 0; waited < 5000; waited += 250) {
      const now = await clients.call({ cmd: "stats", keep: true })
      if (now.messages - before.messages >= expected) break
      await sleep(250)
    }
    const cpu1 = cpuMs(pid)
    const after = await clients.call({ cmd: "stats" })
    const deliveries = after.messages - before.messages
    return {
      rate,
      sent: sent.sent,
      acked: sent.acked,
      errors: sent.errors,
      errorCodes: sent.errorCodes,
      deliveries,
      loss: 1 - deliveries / expected,
      cpuMs: cpu1 - cpu0,
      usPerDelivery: ((cpu1 - cpu0) * 1000) / deliveries,
      p50: after.p50,
      p99: after.p99
    }
  }
