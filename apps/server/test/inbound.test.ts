/**
 * A connection's inbound queue: client frames beyond their capacity are refused (and answered
 * by the caller), the server's control items still find a place in the reserve, and one that
 * finds none gives the connection up rather than being dropped, so a re-check after a
 * membership change can never be lost silently. No fiber waits on an empty queue: a worker
 * is forked by the first item and ends when the queue is empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Inbound, type InboundCapacity } from "../src/ws/inbound.ts"

/** A host that holds forked workers until the test runs them. */
const host = () => {
  const workers: Array<Effect.Effect<void>> = []
  const state = { lost: 0, stopped: false }
  return {
    state,
    workers,
    make: (capacity: InboundCapacity) =>
      new Inbound(capacity, {
        forkWorker: (worker) => void workers.push(worker),
        controlLost: () => void state.lost++,
        get stopped() {
          return state.stopped
        }
      }),
    /** Runs the workers forked so far, one after the other. */
    run: Effect.suspend(() => Effect.forEach(workers.splice(0), (w) => w, { discard: true }))
  }
}

describe("inbound queue", () => {
  it.effect("runs frames and control items in arrival order, with one worker per busy spell", () =>
    Effect.gen(function* () {
      const h = host()
      const ran: Array<string> = []
      const item = (name: string) => Effect.sync(() => void ran.push(name))
      const inbound = h.make({ frames: 3, reserve: 1 })
      assert.strictEqual(h.workers.length, 0)
      assert.isTrue(inbound.offerFrame(item("frame 1")))
      inbound.offerControl(item("re-check"))
      assert.isTrue(inbound.offerFrame(item("frame 2")))
      assert.strictEqual(h.workers.length, 1)
      yield* h.run
      assert.deepStrictEqual(ran, ["frame 1", "re-check", "frame 2"])
      assert.strictEqual(inbound.size, 0)
      // Idle again: the next item forks a new worker.
      assert.isTrue(inbound.offerFrame(item("frame 3")))
      assert.strictEqual(h.workers.length, 1)
      yield* h.run
      assert.deepStrictEqual(ran, ["frame 1", "re-check", "frame 2", "frame 3"])
    })
  )

  it.effect("an item that fails does not stop the ones after it", () =>
    Effect.gen(function* () {
      const h = host()
      const ran: Array<string> = []
      const inbound = h.make({ frames: 3, reserve: 1 })
      inbound.offerFrame(Effect.die("boom"))
      inbound.offerFrame(Effect.sync(() => void ran.push("after")))
      yield* h.run
      assert.deepStrictEqual(ran, ["after"])
    })
  )

  it.effect("a flood of frames is refused beyond capacity, yet control items still fit in the reserve", () =>
    Effect.gen(function* () {
      const h = host()
      const ran: Array<string> = []
      const inbound = h.make({ frames: 2, reserve: 2 })
      assert.isTrue(inbound.offerFrame(Effect.void))
      assert.isTrue(inbound.offerFrame(Effect.void))
      assert.isFalse(inbound.offerFrame(Effect.void))

      inbound.offerControl(Effect.sync(() => void ran.push("re-check 1")))
      // The reserve is for control items only: frames are still refused.
      assert.isFalse(inbound.offerFrame(Effect.void))
      inbound.offerControl(Effect.sync(() => void ran.push("re-check 2")))
      assert.strictEqual(h.state.lost, 0)
      yield* h.run
      assert.deepStrictEqual(ran, ["re-check 1", "re-check 2"])
    })
  )

  it.effect("a control item that finds no place gives the connection up rather than being dropped", () =>
    Effect.gen(function* () {
      const h = host()
      const inbound = h.make({ frames: 1, reserve: 1 })
      assert.isTrue(inbound.offerFrame(Effect.void))
      inbound.offerControl(Effect.void)
      assert.strictEqual(h.state.lost, 0)
      inbound.offerControl(Effect.void)
      assert.strictEqual(h.state.lost, 1)

      // Room again: the control item is queued, nothing more is given up.
      yield* h.run
      inbound.offerControl(Effect.void)
      assert.strictEqual(h.state.lost, 1)
    })
  )

  it.effect("once the connection stops, waiting items are dropped", () =>
    Effect.gen(function* () {
      const h = host()
      const ran: Array<string> = []
      const inbound = h.make({ frames: 3, reserve: 1 })
      inbound.offerFrame(
        Effect.sync(() => {
          ran.push("first")
          h.state.stopped = true
        })
      )
      inbound.offerFrame(Effect.sync(() => void ran.push("second")))
      yield* h.run
      assert.deepStrictEqual(ran, ["first"])
      assert.strictEqual(inbound.size, 0)
    })
  )
})
