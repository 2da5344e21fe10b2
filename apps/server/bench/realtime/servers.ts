/**
 * The servers the realtime bench measures, each started by the bench on a free port on
 * 127.0.0.1: Parley (`apps/server/src/main.ts` on SQLite in a temp folder, or on Cassandra in
 * a fresh keyspace), the raw `ws` and Socket.IO peers under `peers/`, and Centrifugo.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { serverNodeFlags } from "../../src/node-flags.ts"
import { centrifugoConfig } from "./peers/centrifugo-config.ts"
import { centrifugoBinary, freePort, root, type Started, start, waitForHttp } from "./tools.ts"

export type Proto = "parley" | "ws" | "sio" | "centrifugo"

export interface Target {
  readonly proto: Proto
  readonly base: string
  /** Parley only: `/metrics`, on its own listener. */
  readonly metricsUrl?: string
  readonly pid: number
  readonly stop: () => Promise<void>
}

/** `probe`: a path the peer answers (Socket.IO leaves any other request unanswered). */
const peer = async (file: string, proto: Proto, probe: string): Promise<Target> => {
  const port = await freePort()
  const started = start(process.execPath, [join(import.meta.dirname, "peers", file), String(port)])
  const base = `http://127.0.0.1:${port}`
  await waitForHttp(started.child, `${base}${probe}`, file)
  return { proto, base, pid: started.pid, stop: started.stop }
}

export const startWsPeer = () => peer("ws-peer.ts", "ws", "/")
export const startSocketIoPeer = () => peer("socketio-peer.ts", "sio", "/socket.io/?EIO=4&transport=polling")

export const startCentrifugo = async (): Promise<Target> => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-centrifugo-"))
  const config = join(dir, "config.json")
  writeFileSync(config, JSON.stringify(centrifugoConfig(port), null, 2))
  const started = start(centrifugoBinary, ["--config", config])
  const base = `http://127.0.0.1:${port}`
  await waitForHttp(started.child, `${base}/health`, "centrifugo")
  return { proto: "centrifugo", base, pid: started.pid, stop: () => cleanup(started, dir) }
}

const cleanup = async (started: Started, dir: string) => {
  await started.stop()
  rmSync(dir, { recursive: true, force: true })
}

/**
 * Limits raised so that the bench measures the server rather than its abuse protection:
 * sign-ups, logins (a login storm logs the same accounts in again and again), messages per
 * user, sockets per user (the bench reuses a few hundred accounts with many sockets each) and
 * the room's mailbox (the hot room keeps 128 sends in flight). Each socket subscribes to one
 * room once, within the default per-connection caps. Tokens live for the whole run.
 */
export const parleyBenchEnv = {
  RATE_SIGNUP_PER_IP: "1000000",
  RATE_LOGIN_PER_IP: "1000000",
  RATE_LOGIN_PER_ACCOUNT: "1000000",
  RATE_REFRESH_PER_IP: "1000000",
  RATE_MESSAGES_PER_USER: "1000000000",
  RATE_ROOMS_PER_USER: "1000",
  ACCESS_TOKEN_TTL: "4 hours",
  // 20 by default; the bench opens up to 40 sockets per account (10,000 over 250 accounts)
  WS_MAX_CONNECTIONS_PER_USER: "100000",
  ROOM_MAILBOX_CAPACITY: "100000"
}

/** `dataDir`: reuse this folder (and leave it) rather than a fresh one removed on stop. */
export const startParley = async (
  storage: { kind: "sqlite" } | { kind: "cassandra"; contactPoints: string },
  dataDir?: string
) => {
  const port = await freePort()
  const metricsPort = await freePort()
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "parley-bench-realtime-"))
  const keyspace = `parley_rt_${Date.now().toString(36)}`
  // `BENCH_SERVER_CPU_PROF=<dir>`: each Parley server writes a V8 CPU profile there when it stops.
  const profile = process.env.BENCH_SERVER_CPU_PROF
    ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_SERVER_CPU_PROF]
    : []
  const started = start(process.execPath, [...serverNodeFlags(), ...profile, join(root, "apps/server/src/main.ts")], {
    PATH: process.env.PATH ?? "",
    PORT: String(port),
    HOST: "127.0.0.1",
    METRICS_PORT: String(metricsPort),
    PARLEY_DATA_DIR: dir,
    PARLEY_STORAGE: storage.kind,
    ...(storage.kind === "cassandra"
      ? { CASSANDRA_CONTACT_POINTS: storage.contactPoints, CASSANDRA_KEYSPACE: keyspace }
      : {}),
    JWT_SECRET: "realtime-bench-secret-0123456789-abcdefghijklmnop",
    LOG_LEVEL: "Error",
    ...parleyBenchEnv
  })
  const base = `http://127.0.0.1:${port}`
  await waitForHttp(started.child, `${base}/healthz`, "parley")
  const target: Target & { keyspace?: string } = {
    proto: "parley",
    base,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    pid: started.pid,
    stop: () => (dataDir === undefined ? cleanup(started, dir) : started.stop()),
    ...(storage.kind === "cassandra" ? { keyspace } : {})
  }
  return target
}
