#!/usr/bin/env node
// The README's two commands start here, on whatever Node the machine has (20 on a fresh
// one). It provides the pinned Node 24 and pnpm from the npm registry when missing,
// installs dependencies when the lockfile changed, then hands over to the real command
// under Node 24. Deliberately plain JavaScript with no dependencies.
import { spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
const nodeVersion = pkg.parleyTools.node
const pnpmVersion = pkg.packageManager.replace(/^pnpm@/, "")
const tools = join(root, ".tools")
// The server's Node flags (why: apps/server/node-flags.json); one the operator set in NODE_OPTIONS wins.
const serverFlags = JSON.parse(readFileSync(join(root, "apps/server/node-flags.json"), "utf8")).flags.filter(
  (flag) => !(process.env.NODE_OPTIONS ?? "").includes(flag.split("=")[0])
)
const commands = {
  start: [...serverFlags, "apps/server/src/main.ts"],
  test: ["scripts/test.mjs"],
  parley: ["apps/cli/src/chat/main.ts"],
  "parley-admin": ["apps/cli/src/admin/main.ts"],
  "install-clients": ["scripts/install-clients.mjs"]
}

const log = (message) => console.error(`[parley] ${message}`)
const fail = (message) => {
  log(message)
  process.exit(1)
}

const installedVersion = (name) => {
  const file = join(tools, "node_modules", name, "package.json")
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")).version : undefined
}

const run = (bin, args, env) => {
  const result = spawnSync(bin, args, { cwd: root, stdio: "inherit", env })
  if (result.error) fail(`${bin} failed to start: ${result.error.message}`)
  if (result.status !== 0) fail(`${[bin, ...args].join(" ")} exited with ${result.status ?? result.signal}`)
}

/** Node 24 and pnpm, pinned, in .tools/ (ignored by git). */
const ensureTools = () => {
  const useSystemNode = Number(process.versions.node.split(".")[0]) >= 24
  const wanted = { pnpm: pnpmVersion, ...(useSystemNode ? {} : { node: nodeVersion }) }
  const missing = Object.entries(wanted).filter(([name, version]) => installedVersion(name) !== version)
  if (missing.length > 0) {
    log(`installing ${missing.map(([n, v]) => `${n}@${v}`).join(", ")} into .tools/ from the npm registry`)
    mkdirSync(tools, { recursive: true })
    writeFileSync(join(tools, "package.json"), JSON.stringify({ private: true, dependencies: wanted }, null, 2))
    const npm = process.platform === "win32" ? "npm.cmd" : "npm"
    run(
      npm,
      ["install", "--prefix", tools, "--no-audit", "--no-fund", "--loglevel=error", "--no-package-lock"],
      process.env
    )
  }
  const nodeBin = useSystemNode ? process.execPath : join(tools, "node_modules", "node", "bin", "node")
  const env = {
    ...process.env,
    PATH: [dirname(nodeBin), join(tools, "node_modules", ".bin"), process.env.PATH].join(":"),
    // pnpm must not try to switch itself to another version.
    COREPACK_ENABLE_STRICT: "0"
  }
  return { nodeBin, env }
}

/** `pnpm install` only when a manifest or the lockfile changed since the last install. */
const ensureDependencies = (env) => {
  const manifests = [
    "package.json",
    "pnpm-lock.yaml",
    "pnpm-workspace.yaml",
    "apps/server/package.json",
    "apps/cli/package.json",
    "packages/domain/package.json",
    "packages/storage/package.json"
  ]
  const digest = createHash("sha256")
  for (const file of manifests) digest.update(existsSync(join(root, file)) ? readFileSync(join(root, file)) : "")
  const stamp = join(root, "node_modules", ".parley-install")
  const want = `${digest.digest("hex")} ${process.versions.node}`
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) return
  log("installing dependencies (pnpm install --frozen-lockfile)")
  run(join(tools, "node_modules", ".bin", "pnpm"), ["install", "--frozen-lockfile", "--reporter=append-only"], env)
  writeFileSync(stamp, want)
}

const command = process.argv[2]
if (!(command in commands)) fail(`usage: node scripts/bootstrap.mjs <${Object.keys(commands).join("|")}>`)
const { nodeBin, env } = ensureTools()
ensureDependencies(env)

const child = spawn(nodeBin, [...commands[command], ...process.argv.slice(3)], { cwd: root, stdio: "inherit", env })
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal))
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 + 1 : 1)))
