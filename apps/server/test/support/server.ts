import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { DatabaseSync } from "node:sqlite"
import {
  CassandraConfig,
  CassandraStorage,
  type Sessions,
  SqliteStorage,
  type StorageHealth,
  type Users
} from "@parley/storage"
import cassandra from "cassandra-driver"
import { Effect, type Layer } from "effect"
import { serverNodeFlags } from "../../src/node-flags.ts"

const main = resolve(import.meta.dirname, "../../src/main.ts")

/** The signing key the test servers use, so tests can forge tokens of every kind. */
export const testSecret = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"

export interface Backend {
  readonly name: string
  /** Environment for a server process on this backend (fresh database per call). */
  readonly env: () => Record<string, string>
  /** The same storage the server uses, for operator actions a test needs (e.g. disabling a user). */
  readonly storage: (env: Record<string, string>) => Layer.Layer<Users | Sessions | StorageHealth, unknown>
  /** Deletes what a server on this backend stored (a test's keyspace must not outlive it). */
  readonly dropStorage: (env: Record<string, string>) => Promise<void>
  /** Makes the server's database refuse work until the returned function is called. */
  readonly makeUnavailable: (server: RunningServer) => Promise<() => Promise<void>>
}

export const sqliteBackend: Backend = {
  name: "sqlite",
  env: () => ({ PARLEY_STORAGE: "sqlite", PARLEY_DATA_DIR: mkdtempSync(join(tmpdir(), "parley-http-")) }),
  storage: (env) => SqliteStorage.layer(join(env.PARLEY_DATA_DIR!, "parley.db")),
  dropStorage: async (env) => rmSync(env.PARLEY_DATA_DIR!, { recursive: true, force: true }),
  // Another process holding the write lock: the server's writes time out with SQLITE_BUSY.
  makeUnavailable: async (server) => {
    const db = new DatabaseSync(join(server.env.PARLEY_DATA_DIR!, "parley.db"))
    db.exec("BEGIN EXCLUSIVE")
    return async () => {
      db.exec("ROLLBACK")
      db.close()
    }
  }
}

/** Needs the Cassandra node and Redis server that `npm test` started. */
export const cassandraRedisBackend: Backend = {
  name: "cassandra+redis",
  env: () => {
    const contactPoints = process.env.CASSANDRA_CONTACT_POINTS
    const redisUrl = process.env.REDIS_URL
    if (!contactPoints || !redisUrl) {
      throw new Error("CASSANDRA_CONTACT_POINTS and REDIS_URL must be set: run the suite through `npm test`")
    }
    const keyspace = `parley_http_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`
    return {
      PARLEY_STORAGE: "cassandra",
      CASSANDRA_CONTACT_POINTS: contactPoints,
      CASSANDRA_KEYSPACE: keyspace,
      // Servers of one test share rooms only with each other.
      PARLEY_CLUSTER: keyspace,
      REDIS_URL: redisUrl,
      // Fail fast when the node stalls, so the outage test sees errors within seconds.
      CASSANDRA_REQUEST_TIMEOUT: "3 seconds",
      // Room for that timeout on a machine busy with Cassandra and parallel suites (the stall
      // test runs with the shipped deadline).
      SEND_DEADLINE: "10 seconds",
      PARLEY_DATA_DIR: mkdtempSync(join(tmpdir(), "parley-http-"))
    }
  },
  storage: (env) =>
    CassandraStorage.layer({
      ...Effect.runSync(
        Effect.gen(function* () {
          return yield* CassandraConfig
        })
      ),
      contactPoints: env.CASSANDRA_CONTACT_POINTS!.split(","),
      keyspace: env.CASSANDRA_KEYSPACE!
    }),
  // A single test node holds every keyspace's tables in one heap; dropped ones free it.
  dropStorage: async (env) => {
    rmSync(env.PARLEY_DATA_DIR!, { recursive: true, force: true })
    const client = new cassandra.Client({
      contactPoints: env.CASSANDRA_CONTACT_POINTS!.split(","),
      localDataCenter: "datacenter1"
    })
    try {
      await client.execute(`DROP KEYSPACE IF EXISTS ${env.CASSANDRA_KEYSPACE}`, [], { readTimeout: 120_000 })
    } finally {
      await client.shutdown()
    }
  },
  // The node stops answering (SIGSTOP) but keeps its connections, like a stalled server.
  makeUnavailable: async () => {
    const pid = Number(process.env.CASSANDRA_PID)
    if (!pid) throw new Error("CASSANDRA_PID must be set (npm test sets it; start-cassandra.sh prints it)")
    process.kill(pid, "SIGSTOP")
    return async () => {
      process.kill(pid, "SIGCONT")
    }
  }
}

export interface RunningServer {
  readonly url: string
  /** `/metrics` on the server's own metrics listener (never on `url`'s port). */
  readonly metricsUrl: string
  readonly env: Record<string, string>
  /** Everything the process wrote to stdout and stderr so far. */
  readonly output: () => string
  readonly stop: () => Promise<void>
  /** Dies at once (SIGKILL), saying goodbye to nobody; its storage is left alone. */
  readonly crash: () => Promise<void>
}

/**
 * Another node of `first`'s cluster: the same keyspace and Redis, its own ports and data
 * folder. Stopping either drops the shared storage, so stop the cluster's nodes together.
 */
export const startAnotherNode = (backend: Backend, first: RunningServer, extraEnv: Record<string, string> = {}) => {
  const { PORT: _port, PARLEY_RUNNER_PORT: _runnerPort, ...shared } = first.env
  return startServer(backend, {
    ...shared,
    PARLEY_DATA_DIR: mkdtempSync(join(tmpdir(), "parley-node-")),
    ...extraEnv
  })
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

/** The address in the server's `metrics listening` log line (`metrics/listener.ts`). */
const metricsUrlIn = (output: string): string | undefined => {
  for (const line of output.split("\n")) {
    if (!line.includes('"metrics listening"')) continue
    const url = (JSON.parse(line) as { annotations?: { metrics_url?: unknown } }).annotations?.metrics_url
    if (typeof url === "string") return url
  }
  return undefined
}

/**
 * Starts `apps/server/src/main.ts` as its own process and waits until /healthz answers. Its
 * ports are picked free here and bound by the child later: meanwhile another process, or the
 * child's own metrics listener on port 0, may take one. Such a start is tried again on new ports.
 */
export const startServer = async (backend: Backend, extraEnv: Record<string, string> = {}): Promise<RunningServer> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(backend, extraEnv)
    } catch (error) {
      if (attempt === 3 || extraEnv.PORT !== undefined || !String(error).includes("EADDRINUSE")) throw error
    }
  }
}

const startServerOnce = async (backend: Backend, extraEnv: Record<string, string>): Promise<RunningServer> => {
  const port = extraEnv.PORT ? Number(extraEnv.PORT) : await freePort()
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: "127.0.0.1",
    PARLEY_RUNNER_HOST: "127.0.0.1",
    PARLEY_RUNNER_PORT: String(await freePort()),
    JWT_SECRET: testSecret,
    // Any free port: many servers run at once. The server logs the one it took.
    METRICS_PORT: "0",
    RATE_LOGIN_PER_IP: "100000",
    RATE_SIGNUP_PER_IP: "100000",
    RATE_REFRESH_PER_IP: "100000",
    ...backend.env(),
    ...extraEnv
  }
  let output = ""
  const child: ChildProcess = spawn(process.execPath, [...serverNodeFlags(), main], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout?.on("data", (chunk) => {
    output += chunk
  })
  child.stderr?.on("data", (chunk) => {
    output += chunk
  })
  const url = `http://127.0.0.1:${port}`
  let metricsUrl: string | undefined
  const deadline = Date.now() + 120_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`)
    if (Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error(`server did not answer /healthz (and log its metrics address) within 120 s:\n${output}`)
    }
    const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.ok,
      (error) => {
        // Refused means "not listening yet"; an accepted connection left unanswered is a bug.
        if (error?.name === "TimeoutError") {
          child.kill("SIGKILL")
          throw new Error(`/healthz accepted a connection but did not answer in 5 s:\n${output}`)
        }
        return false
      }
    )
    // The metrics address is logged before the public port opens; the line may still be in the pipe.
    metricsUrl = metricsUrlIn(output)
    if (ok && metricsUrl !== undefined) break
    await new Promise((r) => setTimeout(r, 200))
  }
  return {
    url,
    metricsUrl,
    env,
    output: () => output,
    crash: async () => {
      // A process killed by a signal keeps `exitCode` null: `signalCode` says it is gone.
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((r) => child.once("exit", r))
      child.kill("SIGKILL")
      await exited
    },
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r))
        child.kill("SIGTERM")
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
        if (child.exitCode === null) child.kill("SIGKILL")
      }
      await backend.dropStorage(env)
    }
  }
}
