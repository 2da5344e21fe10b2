/**
 * What the realtime bench needs around the servers: the Go toolchain, the load generator and
 * Centrifugo built into `.cache/bench/bin` (gitignored), free ports, child processes that are
 * always stopped, and one run of the load generator.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { createServer } from "node:net"
import { availableParallelism } from "node:os"
import { join, resolve } from "node:path"

export const root = resolve(import.meta.dirname, "../../../..")
export const cacheBin = join(root, ".cache/bench/bin")
export const loadgenBinary = join(cacheBin, "parley-loadgen")
export const centrifugoBinary = join(cacheBin, "centrifugo")
export const centrifugoModule = "github.com/centrifugal/centrifugo/v6@v6.9.1"

/** `go` from PATH, else the usual install location. */
export const goBinary = (): string => {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/local/go/bin"]) {
    if (dir !== "" && existsSync(join(dir, "go"))) return join(dir, "go")
  }
  throw new Error("the realtime bench needs Go >= 1.24 (https://go.dev/dl/) to build its load generator and Centrifugo")
}

export const goVersion = () => spawnSync(goBinary(), ["version"], { encoding: "utf8" }).stdout.trim()

/** The load generator: `go build` is incremental, so this is about a second when nothing changed. */
export const buildLoadgen = () => {
  mkdirSync(cacheBin, { recursive: true })
  const built = spawnSync(goBinary(), ["build", "-o", loadgenBinary, "."], {
    cwd: join(import.meta.dirname, "loadgen"),
    stdio: "inherit"
  })
  if (built.status !== 0) throw new Error("building the load generator failed")
}

/** Centrifugo, once: `go install` of the released module into the cache (a few minutes the first time). */
export const buildCentrifugo = () => {
  if (existsSync(centrifugoBinary)) return
  console.log(`building Centrifugo (go install ${centrifugoModule}); a few minutes, once`)
  mkdirSync(cacheBin, { recursive: true })
  const built = spawnSync(goBinary(), ["install", centrifugoModule], {
    env: { ...process.env, GOBIN: cacheBin },
    stdio: "inherit"
  })
  if (built.status !== 0) throw new Error("building Centrifugo failed")
}

export const freePort = () =>
  new Promise<number>((done, fail) => {
    const server = createServer()
    server.once("error", fail)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => done(typeof address === "object" && address ? address.port : 0))
    })
  })

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Cores as `taskset` lists them: the server under test's, and the generator's own. */
export interface CoreSplit {
  readonly server: string
  readonly generator: string
}

/**
 * The last core for the generator alone, the others for the server: `undefined` on one core, or
 * without `taskset` (util-linux). Unpinned on two cores, the scheduler moves the server's and
 * the generator's threads about and each waits for the other now and then; a p99 measured so
 * reads the same for every server (BENCHMARKS.md, "The p99 rounds run on cores of their own").
 */
export const coreSplit = (): CoreSplit | undefined => {
  const count = availableParallelism()
  if (count < 2 || spawnSync("taskset", ["-V"]).status !== 0) return undefined
  return { server: count === 2 ? "0" : `0-${count - 2}`, generator: String(count - 1) }
}

/** Keeps every thread of `pid` (and any it starts later) on `cores`. */
export const pinProcess = (pid: number, cores: string) => {
  const pinned = spawnSync("taskset", ["-a", "-p", "-c", cores, String(pid)], { stdio: "ignore" })
  if (pinned.status !== 0) throw new Error(`taskset could not pin process ${pid} to cores ${cores}`)
}

/** Polls `url` until it answers (any status), failing if the process exits first. */
export const waitForHttp = async (child: ChildProcess, url: string, what: string) => {
  for (let tries = 0; tries < 600; tries++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`)
    if (
      await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
        () => true,
        () => false
      )
    )
      return
    await sleep(200)
  }
  throw new Error(`${what} did not answer ${url}`)
}

/** Children to stop on exit, however the bench ends. */
const running = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => process.exit(130))
}

export interface Started {
  readonly child: ChildProcess
  readonly pid: number
  readonly stop: () => Promise<void>
}

export const start = (command: string, args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv): Started => {
  const child = spawn(command, args, { env: env ?? process.env, stdio: ["ignore", "ignore", "inherit"] })
  running.add(child)
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r))
      child.kill("SIGTERM")
      const killed = setTimeout(() => child.kill("SIGKILL"), 10_000)
      await exited
      clearTimeout(killed)
    }
    running.delete(child)
  }
  return { child, pid: child.pid!, stop }
}

/**
 * One scenario of the load generator, on `cores` when given; its JSON result, or `{ error }`
 * when it failed or timed out.
 */
export const loadgen = (args: ReadonlyArray<string>, timeoutMs: number, cores?: string) =>
  new Promise<Record<string, any>>((done) => {
    // One scheduler thread: a delivery then costs the generator about a third less CPU (no
    // wake-ups across threads), which it leaves to the server under test on a 2-core machine;
    // each fan-out phase reports the cores it used (genCores), so a saturated generator shows.
    const [command, argv] =
      cores === undefined ? [loadgenBinary, args] : ["taskset", ["-c", cores, loadgenBinary, ...args]]
    const child = spawn(command, argv, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, GOMAXPROCS: process.env.LOADGEN_GOMAXPROCS ?? "1" }
    })
    running.add(child)
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => {
      out += d
    })
    child.stderr.on("data", (d) => {
      err += d
      process.stderr.write(`    ${String(d).trimEnd().replaceAll("\n", "\n    ")}\n`)
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      running.delete(child)
      if (code === 0) {
        try {
          return done(JSON.parse(out.trim().split("\n").at(-1)!))
        } catch {}
      }
      const why = signal === "SIGKILL" ? `timed out after ${timeoutMs / 1000} s` : `exit ${code ?? signal}`
      done({ error: `${why}: ${err.trim().split("\n").at(-1) ?? ""}` })
    })
  })
