/**
 * Per-user client state under the XDG config directory (`$XDG_CONFIG_HOME/parley`, else
 * `~/.config/parley`). Files hold refresh tokens, so they are written with mode 0600 in a
 * 0700 folder, and rewritten atomically so a crash never leaves half a file.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"

export const configDir = (env: NodeJS.ProcessEnv = process.env) =>
  join(
    env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.length > 0 ? env.XDG_CONFIG_HOME : join(homedir(), ".config"),
    "parley"
  )

export const readConfigFile = (name: string, env: NodeJS.ProcessEnv = process.env): unknown => {
  const file = join(configDir(env), name)
  if (!existsSync(file)) return undefined
  try {
    return JSON.parse(readFileSync(file, "utf8"))
  } catch {
    return undefined
  }
}

/**
 * The config folder, created if missing and closed to other users: `mkdir`'s mode applies
 * only to a folder it creates, so one that already existed (made by hand, or by another tool
 * with a looser umask) is chmod-ed too.
 */
export const ensureConfigDir = (env: NodeJS.ProcessEnv = process.env): string => {
  const dir = configDir(env)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  return dir
}

export const writeConfigFile = (name: string, value: unknown, env: NodeJS.ProcessEnv = process.env) => {
  const dir = ensureConfigDir(env)
  const file = join(dir, name)
  const temp = `${file}.${process.pid}.tmp`
  writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 })
  chmodSync(temp, 0o600)
  renameSync(temp, file)
}
