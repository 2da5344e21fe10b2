import { spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { configDir, readConfigFile, writeConfigFile } from "../src/shared/config-file.ts"
import { withFileLock } from "../src/shared/file-lock.ts"

const homes: Array<string> = []
afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true })
})
const freshEnv = () => {
  const home = mkdtempSync(join(tmpdir(), "parley-config-"))
  homes.push(home)
  return { XDG_CONFIG_HOME: home }
}

describe("config files", () => {
  it("are written 0600 in a 0700 folder, and read back", () => {
    const env = freshEnv()
    writeConfigFile("x.json", { a: 1 }, env)
    expect(statSync(configDir(env)).mode & 0o777).toBe(0o700)
    expect(statSync(join(configDir(env), "x.json")).mode & 0o777).toBe(0o600)
    expect(readConfigFile("x.json", env)).toEqual({ a: 1 })
  })

  it("close a folder that already existed with looser permissions: it holds refresh tokens", () => {
    const env = freshEnv()
    mkdirSync(configDir(env), { recursive: true })
    chmodSync(configDir(env), 0o755)
    writeConfigFile("x.json", { a: 1 }, env)
    expect(statSync(configDir(env)).mode & 0o777).toBe(0o700)
  })
})

describe("the config file lock", () => {
  it("runs one holder at a time and removes the lock file after", async () => {
    const env = freshEnv()
    const order: Array<string> = []
    let release: () => void = () => {}
    const gate = new Promise<void>((done) => {
      release = done
    })
    const a = withFileLock(env, "x.json", async () => {
      order.push("a-start")
      await gate
      order.push("a-end")
    })
    const b = withFileLock(env, "x.json", async () => void order.push("b"))
    await new Promise((done) => setImmediate(done))
    release()
    await Promise.all([a, b])
    expect(order).toEqual(["a-start", "a-end", "b"])
    expect(existsSync(join(configDir(env), "x.json.lock"))).toBe(false)
  })

  it("takes over at once a fresh lock whose holder died (killed while refreshing)", async () => {
    const env = freshEnv()
    // A process that has exited: its pid names no live process.
    const dead = spawnSync(process.execPath, ["-e", ""]).pid
    mkdirSync(configDir(env), { recursive: true })
    writeFileSync(join(configDir(env), "x.json.lock"), String(dead))
    // Not after the 30 s staleness, nor the 20 s wait: the first poll sees the holder is gone.
    let polls = 0
    const realSetTimeout = globalThis.setTimeout
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      polls++
      return realSetTimeout(fn, ms)
    }) as typeof setTimeout
    try {
      expect(await withFileLock(env, "x.json", async () => "ran")).toBe("ran")
    } finally {
      globalThis.setTimeout = realSetTimeout
    }
    expect(polls).toBe(0)
  })

  it("waits for a live holder in another process", async () => {
    const env = freshEnv()
    mkdirSync(configDir(env), { recursive: true })
    // The parent of this test process is alive and is not this process.
    writeFileSync(join(configDir(env), "x.json.lock"), String(process.ppid))
    let ran = false
    const waiting = withFileLock(env, "x.json", async () => {
      ran = true
    })
    await new Promise((done) => setImmediate(done))
    expect(ran).toBe(false)
    rmSync(join(configDir(env), "x.json.lock"))
    await waiting
    expect(ran).toBe(true)
  })
})
