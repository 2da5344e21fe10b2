/**
 * The Cassandra node the bench writes to: the one named by CASSANDRA_CONTACT_POINTS, or a
 * throwaway node started with `tools/cassandra/start-cassandra.sh` and stopped afterwards.
 */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { CassandraConfig } from "@parley/storage"
import { ConfigProvider, Effect } from "effect"

export interface CassandraNode {
  readonly contactPoints: string
  /**
   * The node's process id, when it runs on this machine: the one started here, or a given
   * node's `CASSANDRA_PID` (as `tools/cassandra/start-cassandra.sh` prints it). The bench then
   * reports the node's CPU per message next to the writer's.
   */
  readonly pid?: number
  /** Stops the node if this process started it; a node given by the environment is left alone. */
  readonly stop: () => void
}

/**
 * A Cassandra node's process id from `CASSANDRA_PID` (or the start script's output), if that
 * process runs here and is a Cassandra node: a stale or wrong id is left out, not read.
 */
export const cassandraPid = (value: string | undefined): number | undefined => {
  if (value === undefined || value === "") return undefined
  const pid = Number(value)
  let cassandra = false
  try {
    cassandra =
      Number.isInteger(pid) && pid > 0 && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("CassandraDaemon")
  } catch {
    // No such process here.
  }
  if (!cassandra)
    console.warn(`CASSANDRA_PID=${value} is not a Cassandra node running here: the node's CPU is not reported`)
  return cassandra ? pid : undefined
}

/** `{ nodePid }` for a bench's options when `value` names a Cassandra node running here, else nothing. */
export const nodePidFrom = (value: string | undefined) => {
  const pid = cassandraPid(value)
  return pid === undefined ? {} : { nodePid: pid }
}

export const cassandraNode = (root: string): CassandraNode => {
  const given = process.env.CASSANDRA_CONTACT_POINTS
  if (given !== undefined && given.length > 0) {
    const pid = cassandraPid(process.env.CASSANDRA_PID)
    return { contactPoints: given, stop: () => {}, ...(pid === undefined ? {} : { pid }) }
  }
  const tools = join(root, "tools/cassandra")
  console.log("starting a Cassandra node for the bench (CASSANDRA_CONTACT_POINTS is unset)")
  const started = spawnSync("bash", [join(tools, "start-cassandra.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"]
  })
  const exports = Object.fromEntries(
    (started.stdout.trim().split("\n").at(-1) ?? "")
      .split(/\s+/)
      .filter((kv) => kv.includes("="))
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])
  )
  if (started.status !== 0 || exports.CASSANDRA_CONTACT_POINTS === undefined) {
    throw new Error(`Cassandra did not start (exit ${started.status})`)
  }
  const stop = () => {
    spawnSync("bash", [join(tools, "stop-cassandra.sh"), exports.CASSANDRA_RUN_DIR!], { stdio: "inherit" })
  }
  const pid = cassandraPid(exports.CASSANDRA_PID)
  return { contactPoints: exports.CASSANDRA_CONTACT_POINTS, stop, ...(pid === undefined ? {} : { pid }) }
}

/**
 * The server's own Cassandra settings (the environment's), aimed at `contactPoints` and a fresh
 * keyspace named `<prefix>_<time>`, which the storage layer creates and migrates.
 */
export const benchKeyspaceConfig = (contactPoints: string, prefix: string): CassandraConfig => {
  const env = { ...process.env, CASSANDRA_CONTACT_POINTS: contactPoints } as Record<string, string>
  const config = Effect.runSync(CassandraConfig.parse(ConfigProvider.fromEnv({ env })))
  return { ...config, keyspace: `${prefix}_${Date.now().toString(36)}` }
}
