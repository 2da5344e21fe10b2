// Property-based tests of the server against its own `/openapi.json` (schemathesis, every
// check), run by `npm test`: installs the pinned schemathesis into `.tools/venv` when missing,
// starts a real server on SQLite on a free port, signs up and promotes a user so every
// endpoint is reachable, then runs two passes. Logout and session deletion revoke the token
// they are called with, so they get their own pass with their own session; the main pass
// excludes them. Exits non-zero on any failure. `node scripts/schemathesis.mjs [st args...]`
// passes extra arguments to both passes (e.g. `--max-examples 200`).
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const venv = join(root, ".tools", "venv")
const requirements = join(root, "scripts", "schemathesis-requirements.txt")
/** Per-operation exceptions to the checks, each with its reason. */
const config = join(root, "scripts", "schemathesis.toml")
const log = (message) => console.error(`[schemathesis] ${message}`)
const scratch = mkdtempSync(join(tmpdir(), "parley-st-"))

/** Installs the pinned requirements into `.tools/venv` unless that exact file was installed already. */
const ensureVenv = () => {
  const stamp = join(venv, "parley-requirements.txt")
  const wanted = readFileSync(requirements, "utf8")
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === wanted) return
  log("installing schemathesis into .tools/venv (PyPI)")
  const steps = [
    ["python3", ["-m", "venv", venv]],
    [join(venv, "bin", "pip"), ["install", "--quiet", "--disable-pip-version-check", "-r", requirements]]
  ]
  for (const [command, args] of steps) {
    const result = spawnSync(command, args, { stdio: "inherit" })
    if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (python3 with venv is needed)`)
  }
  writeFileSync(stamp, wanted)
}

const freePort = () =>
  new Promise((done, fail) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address()
      probe.close(() => done(port))
    })
    probe.on("error", fail)
  })

const json = async (base, path, init = {}) => {
  const response = await fetch(`${base}${path}`, {
    ...init,
    headers: { "content-type": "application/json", ...init.headers }
  })
  if (!response.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${response.status} ${await response.text()}`)
  return response.status === 204 ? null : response.json()
}

const waitHealthy = async (base, server) => {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (server.exitCode !== null) throw new Error(`the server exited (${server.exitCode})`)
    const up = await fetch(`${base}/healthz`).then(
      (r) => r.ok,
      () => false
    )
    if (up) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error("the server did not answer /healthz within 60 s")
}

/**
 * Operations that can end the session (or the admin role) of the user calling them, when
 * schemathesis hands them that user's own id or token, and the admin's room deletion, which
 * removes a room under another path than the one that made it: in the main pass, a room
 * created by `POST /api/chat/rooms` and deleted by `DELETE /api/admin/rooms/{room_id}` then
 * answers 404 on `GET /api/chat/rooms/{room_id}`, as it must, and schemathesis, which only
 * counts a DELETE on the same path as a deletion, reports it as "created resource not found"
 * (ST302). Each runs in a pass of its own, on a fresh admin account, after the main pass.
 */
const revoking = [
  "account.logout",
  "account.revokeSession",
  "admin.disableUser",
  "admin.setRole",
  "admin.revokeUserSession",
  "admin.revokeUserSessions",
  "admin.deleteRoom"
]

/** Signs up `name`, makes it an admin as an operator would (the admin API answers 403 to anyone else), logs in. */
const adminToken = async (base, env, name) => {
  const password = "a long fuzzing password 1"
  await json(base, "/signup", {
    method: "POST",
    body: JSON.stringify({ username: `st_${name}`.slice(0, 32), email: `${name}@example.com`, password })
  })
  // Not spawnSync: a blocked event loop cannot see the server close the idle keep-alive
  // connection of the signup, and the login then went out on the dead socket ("fetch failed:
  // other side closed") whenever bootstrap-admin took longer than the server's keep-alive.
  const promoted = await new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ["apps/cli/src/admin/main.ts", "bootstrap-admin", `st_${name}`.slice(0, 32)],
      {
        cwd: root,
        env,
        stdio: ["ignore", "ignore", "pipe"]
      }
    )
    let stderr = ""
    child.stderr.on("data", (chunk) => {
      stderr += chunk
    })
    child.on("error", fail)
    child.on("exit", (status) => done({ status, stderr }))
  })
  if (promoted.status !== 0) throw new Error(`bootstrap-admin failed: ${promoted.stderr}`)
  const login = { email_or_username: `st_${name}`.slice(0, 32), password }
  return (await json(base, "/login", { method: "POST", body: JSON.stringify(login) })).token
}

/** One schemathesis pass (in a scratch folder: it leaves caches in its working folder); resolves to its exit code. */
const pass = (name, base, token, args) =>
  new Promise((done) => {
    log(`pass: ${name}`)
    const child = spawn(
      join(venv, "bin", "st"),
      [
        "--config-file",
        config,
        "run",
        `${base}/openapi.json`,
        "--checks",
        "all",
        "-H",
        `Authorization: Bearer ${token}`,
        ...args
      ],
      { cwd: scratch, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, NO_COLOR: "1" } }
    )
    child.on("exit", (code, signal) => done(code ?? (signal ? 1 : 0)))
  })

const main = async () => {
  ensureVenv()
  const dataDir = mkdtempSync(join(tmpdir(), "parley-schemathesis-"))
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const flags = JSON.parse(readFileSync(join(root, "apps/server/node-flags.json"), "utf8")).flags
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    PARLEY_STORAGE: "sqlite",
    PARLEY_DATA_DIR: dataDir,
    JWT_SECRET: "schemathesis-secret-0123456789-abcdefghijklmnop",
    // Any free port for /metrics, so a server already on the default port does not stop this one.
    METRICS_PORT: "0",
    // Thousands of generated requests from one address: limits high enough that the
    // generated data reaches the handlers (a 429 is still a documented answer).
    RATE_LOGIN_PER_IP: "100000",
    RATE_LOGIN_PER_ACCOUNT: "100000",
    RATE_SIGNUP_PER_IP: "100000",
    RATE_REFRESH_PER_IP: "100000",
    RATE_MESSAGES_PER_USER: "100000",
    RATE_ROOMS_PER_USER: "100000",
    RATE_SEARCHES_PER_USER: "100000",
    RATE_READ_MARKS_PER_USER: "100000"
  }
  delete env.REDIS_URL
  delete env.PARLEY_CLUSTER
  const server = spawn(process.execPath, [...flags, "apps/server/src/main.ts"], {
    cwd: root,
    env,
    stdio: ["ignore", "ignore", "inherit"]
  })
  const stop = () => {
    if (server.exitCode === null) server.kill("SIGTERM")
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(scratch, { recursive: true, force: true })
  }
  process.on("exit", stop)
  try {
    await waitHealthy(base, server)
    const extra = process.argv.slice(2)
    const common = ["--seed", process.env.SCHEMATHESIS_SEED ?? "1", "--max-examples", "40", ...extra]
    const onlyOne = (id) => ["--include-operation-id", id]
    const results = [
      await pass("every operation but those run alone after it", base, await adminToken(base, env, "main"), [
        ...common,
        ...revoking.flatMap((id) => ["--exclude-operation-id", id])
      ])
    ]
    for (const id of revoking) {
      results.push(
        await pass(id, base, await adminToken(base, env, id.replace(/\W/g, "")), [...common, ...onlyOne(id)])
      )
    }
    return results.every((code) => code === 0) ? 0 : 1
  } finally {
    stop()
  }
}

process.exitCode = await main().catch((error) => {
  log(error instanceof Error ? error.message : String(error))
  return 1
})
