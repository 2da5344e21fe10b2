import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { configDir, readConfigFile, writeConfigFile } from "../src/shared/config-file.ts"

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
