import { type Duration, Effect, Exit, FiberSet, type Scope } from "effect"

/**
 * Collects changes per key (a room) and hands each key's batch to `flush` once per window:
 * a thousand joins in one window become one call, so what goes out per window does not grow
 * with how many joined. One timer for all keys, running only while something is pending;
 * windows never overlap (the next starts once every key of the last one is flushed), so a
 * key's batches are flushed in order. Closing the scope drops what is pending.
 */
export interface Coalescer<K, C> {
  /** Queues `change` under `key`; it is flushed at the end of the current window. */
  readonly add: (key: K, change: C) => void
}

export const makeCoalescer = <K, C, R>(options: {
  readonly window: Duration.Duration
  /** Never fails: a flush that cannot publish logs and drops its batch (presence and typing are best effort). */
  readonly flush: (key: K, changes: ReadonlyArray<C>) => Effect.Effect<void, never, R>
  /** How many keys are flushed at once (each flush may wait on Redis). */
  readonly concurrency?: number
}): Effect.Effect<Coalescer<K, C>, never, Scope.Scope | R> =>
  Effect.gen(function* () {
    const run = yield* FiberSet.makeRuntime<R>()
    let pending = new Map<K, Array<C>>()
    let ticking = false

    const tick: Effect.Effect<void, never, R> = Effect.sleep(options.window).pipe(
      Effect.andThen(
        Effect.suspend(() => {
          const batch = pending
          pending = new Map()
          return Effect.forEach(batch, ([key, changes]) => options.flush(key, changes), {
            concurrency: options.concurrency ?? 8,
            discard: true
          })
        })
      ),
      Effect.onExit((exit) =>
        Effect.sync(() => {
          ticking = false
          // Interrupted: the scope is closing, and what is pending goes with it.
          if (pending.size > 0 && !Exit.hasInterrupts(exit)) start()
        })
      )
    )
    const start = () => {
      ticking = true
      run(tick)
    }

    return {
      add: (key, change) => {
        const changes = pending.get(key)
        if (changes === undefined) pending.set(key, [change])
        else changes.push(change)
        if (!ticking) start()
      }
    }
  })
