// `npm test`, under Node 24 (see bootstrap.mjs): starts a real Cassandra node and a real
// Redis server (or reuses CASSANDRA_CONTACT_POINTS / REDIS_URL), runs every suite, stops
// what it started (also on failure or Ctrl-C), and ends with one line of totals.
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const tool = (service, script) => join(root, "tools", service, script)
const bin = (name) => join(root, "node_modules", ".bin", name)
const log = (message) => console.error(`\n[parley test] ${message}`)
const totals = { passed: 0, failed: 0 }
const cleanups = []

/** Runs a command with inherited output; resolves to its exit code. */
const run = (command, args, env = {}, options = {}) =>
  new Promise((done) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: options.capture ? ["ignore", "pipe", "inherit"] : ["ignore", "inherit", "inherit"]
    })
    let stdout = ""
    child.stdout?.on("data", (chunk) => {
      stdout += chunk
    })
    child.on("exit", (code, signal) => done({ code: code ?? (signal ? 1 : 0), stdout }))
  })

/** A check that is one test: passed or failed as a whole. */
const check = async (name, command, args, env) => {
  log(name)
  const { code } = await run(command, args, env)
  totals[code === 0 ? "passed" : "failed"]++
  if (code !== 0) log(`${name} FAILED`)
}

/** A vitest project; its own counts go into the totals. */
const vitest = async (project, env) => {
  log(`vitest --project ${project}`)
  const dir = mkdtempSync(join(tmpdir(), "parley-vitest-"))
  const report = join(dir, "report.json")
  const { code } = await run(
    bin("vitest"),
    ["run", "--project", project, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`],
    env
  )
  try {
    const result = JSON.parse(readFileSync(report, "utf8"))
    totals.passed += result.numPassedTests
    totals.failed += result.numFailedTests + (code !== 0 && result.numFailedTests === 0 ? 1 : 0)
  } catch {
    totals.failed++
    log(`vitest ${project} produced no report (exit ${code})`)
  }
  rmSync(dir, { recursive: true, force: true })
}

/** Runs a start script; its last stdout line is `KEY=value ...` exports. */
const startService = async (name, service, script) => {
  log(`starting ${name}`)
  const { code, stdout } = await run("bash", [tool(service, script)], {}, { capture: true })
  const last = stdout.trim().split("\n").pop() ?? ""
  if (code !== 0) throw new Error(`${name} did not start (exit ${code})`)
  return Object.fromEntries(
    last
      .split(/\s+/)
      .filter((kv) => kv.includes("="))
      .map((kv) => {
        const [key, ...rest] = kv.replace(/^export\s+/, "").split("=")
        return [key, rest.join("=").replace(/^['"]|['"]$/g, "")]
      })
  )
}

/**
 * The terminal client's end-to-end test drives real terminals with tmux (Debian's package),
 * installed here when missing and running as root, like redis-server; otherwise that test
 * fails saying what to install.
 */
const ensureTmux = async () => {
  if ((await run("sh", ["-c", "command -v tmux"], {}, { capture: true })).code === 0) return
  if (process.getuid?.() !== 0) {
    log("tmux is not installed and this is not root: apt-get install tmux (the parley end-to-end test needs it)")
    return
  }
  log("installing Debian's tmux package")
  await run("apt-get", ["update", "-qq"])
  await run("apt-get", ["install", "-y", "-qq", "tmux"], { DEBIAN_FRONTEND: "noninteractive" })
}

let cleaningUp
const cleanup = () =>
  (cleaningUp ??= (async () => {
    for (const stop of cleanups.reverse()) await stop()
  })())

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, async () => {
    log(`${signal}: stopping what the tests started`)
    await cleanup()
    process.exit(130)
  })
}

const main = async () => {
  const env = {}
  // The outage and stall tests pause a service (SIGSTOP/SIGCONT) through its PID: only one
  // this script started. A PID inherited along with someone else's CASSANDRA_CONTACT_POINTS
  // or REDIS_URL is blanked (the child's env starts from ours), and those tests then fail
  // saying what to set, rather than pause a server that is not ours.
  env.CASSANDRA_PID = ""
  env.REDIS_PID = ""
  // Cassandra takes the longest to start, so it boots while the fast suites run.
  const cassandra = process.env.CASSANDRA_CONTACT_POINTS
    ? Promise.resolve({ CASSANDRA_CONTACT_POINTS: process.env.CASSANDRA_CONTACT_POINTS })
    : startService("Cassandra 5.0", "cassandra", "start-cassandra.sh").then((exports) => {
        cleanups.push(() => run("bash", [tool("cassandra", "stop-cassandra.sh"), exports.CASSANDRA_RUN_DIR]))
        return exports
      })
  cassandra.catch(() => {})

  await check("typecheck", bin("tsc"), ["-p", "tsconfig.json"])
  await check("Effect diagnostics (floating Effects, vitest)", process.execPath, ["scripts/effect-diagnostics.mjs"])
  await check("lint (biome)", bin("biome"), ["ci", "."])
  await vitest("unit", {})
  // The server against its own /openapi.json: schemathesis, every check (scripts/schemathesis.mjs).
  await check("schemathesis (/openapi.json against a real server)", process.execPath, ["scripts/schemathesis.mjs"])

  if (process.env.REDIS_URL) {
    env.REDIS_URL = process.env.REDIS_URL
  } else {
    const redis = await startService("Redis", "redis", "start-redis.sh")
    cleanups.push(() => run("bash", [tool("redis", "stop-redis.sh"), redis.REDIS_RUN_DIR ?? ""]))
    env.REDIS_URL = redis.REDIS_URL
    env.REDIS_PID = redis.REDIS_PID
  }
  const started = Date.now()
  const { CASSANDRA_CONTACT_POINTS, CASSANDRA_PID } = await cassandra
  log(`Cassandra ready at ${CASSANDRA_CONTACT_POINTS} (waited ${((Date.now() - started) / 1000).toFixed(1)} s more)`)
  env.CASSANDRA_CONTACT_POINTS = CASSANDRA_CONTACT_POINTS
  if (CASSANDRA_PID) env.CASSANDRA_PID = CASSANDRA_PID

  await ensureTmux()
  await vitest("integration", env)
}

let code = 0
try {
  await main()
} catch (error) {
  log(`setup failed: ${error instanceof Error ? error.message : error}`)
  totals.failed++
}
await cleanup()
if (totals.failed > 0) code = 1
console.log(`\n${totals.passed} passed, ${totals.failed} failed`)
process.exit(code)
