/** How much the realtime bench does: `--quick` (under 5 minutes) or the full run. */
export interface Plan {
  readonly mode: "quick" | "full"
  /** Parley accounts; sockets are spread over them (several per account, as tabs would be). */
  readonly users: number
  /** sockets dialled at once when opening many */
  readonly workers: number
  readonly idle: number
  /** quiet time before each RSS reading of the idle scenario (the server's heap shrinks after a burst) */
  readonly settle: string
  /** also measure idle memory with every socket in the one room */
  readonly idleInRoom: boolean
  readonly connect: number
  readonly join: { readonly prefill: number; readonly joins: number; readonly first: number }
  readonly fanout: {
    readonly subs: number
    readonly rates: ReadonlyArray<number>
    readonly duration: string
    readonly warm: string
    /** the longest wait for late deliveries after each rate */
    readonly drain: string
  }
  /**
   * p99 at one rate, measured again in rounds that take each server in turn (Parley, raw `ws`,
   * Socket.IO, Centrifugo, Parley, …) on fresh processes: one window's p99 swings with the
   * machine's background (Socket.IO's went from 15 to 77 ms between runs), and a goal that
   * compares two servers' tails needs both measured beside each other more than once.
   */
  readonly latencyRounds: {
    readonly rate: number
    readonly rounds: number
    readonly duration: string
    readonly warm: string
    readonly drain: string
  }
  /** the generator's ceiling: fan-out rates against the raw `ws` peer (none: only its CPU per delivery) */
  readonly ceilingRates: ReadonlyArray<number>
  readonly hot: {
    readonly duration: string
    readonly warm: string
    /** in flight = senders × per sender (a connection queues at most 256 frames) */
    readonly shapes: ReadonlyArray<{ readonly senders: number; readonly inflight: number }>
  }
  readonly history: { readonly readers: number; readonly duration: string }
  /**
   * the Cassandra hot room: turns of the raw driver's rounds (as long as `hot.duration`) and a
   * Parley pass, on the same node (medians reported, `cassandra-turns.ts`)
   */
  readonly driver: { readonly turns: number }
  readonly login: { readonly clients: number; readonly duration: string }
  /** the most one load-generator scenario may take before it is stopped and reported as timed out */
  readonly scenarioTimeoutMs: number
}

export const quick: Plan = {
  mode: "quick",
  // two argon2id hashes each (sign-up, login): about 0.2 s apiece on a busy 2-core machine
  users: 24,
  workers: 32,
  idle: 2000,
  settle: "5s",
  idleInRoom: false,
  connect: 1000,
  join: { prefill: 1000, joins: 300, first: 100 },
  fanout: { subs: 1000, rates: [50, 100, 200], duration: "2s", warm: "1s", drain: "3s" },
  latencyRounds: { rate: 50, rounds: 0, duration: "2s", warm: "1s", drain: "3s" },
  ceilingRates: [],
  hot: {
    duration: "3s",
    warm: "1s",
    shapes: [
      { senders: 1, inflight: 1 },
      { senders: 8, inflight: 16 }
    ]
  },
  history: { readers: 8, duration: "3s" },
  driver: { turns: 1 },
  login: { clients: 8, duration: "6s" },
  scenarioTimeoutMs: 120_000
}

export const full: Plan = {
  mode: "full",
  users: 250,
  workers: 32,
  idle: 5000,
  settle: "10s",
  idleInRoom: true,
  connect: 5000,
  join: { prefill: 2000, joins: 8000, first: 200 },
  fanout: { subs: 1000, rates: [50, 100, 200], duration: "10s", warm: "2s", drain: "15s" },
  latencyRounds: { rate: 50, rounds: 3, duration: "10s", warm: "2s", drain: "5s" },
  ceilingRates: [400, 1000],
  hot: {
    duration: "10s",
    warm: "2s",
    shapes: [
      { senders: 1, inflight: 1 },
      { senders: 8, inflight: 16 }
    ]
  },
  history: { readers: 8, duration: "10s" },
  driver: { turns: 3 },
  login: { clients: 16, duration: "20s" },
  scenarioTimeoutMs: 600_000
}
