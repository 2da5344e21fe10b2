/**
 * Reconnect delays: exponential from `baseMs`, capped at `capMs`, with jitter so that a
 * thousand clients dropped by one server restart do not all come back in the same instant.
 * The delay for attempt n is uniform in [d/2, d] where d = min(cap, base * 2^n).
 */
export interface Backoff {
  readonly baseMs: number
  readonly capMs: number
}

export const defaultBackoff: Backoff = { baseMs: 500, capMs: 10_000 }

export const backoffDelay = (attempt: number, backoff: Backoff = defaultBackoff, random = Math.random): number => {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.min(attempt, 30))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
