/**
 * A subscription takes a run of messages (several in a row, `RoomHub`'s window) in one write
 * only when the whole run is new to it and it is live; otherwise message by message, so that
 * nothing is sent twice, skipped, or sent ahead of a replay.
 */
import type { RoomId, UserId } from "@parley/domain"
import { describe, expect, it } from "vitest"
import type { Delivery } from "../src/realtime/hub.ts"
import { type ConnectionState, Subscription } from "../src/ws/state.ts"

const roomId = crypto.randomUUID() as RoomId

const message = (seq: number): Delivery => ({ seq, skipUser: null, frame: Buffer.from(`m${seq}`) })

/** A subscription on a connection that records what it writes; `raw` says whether it takes a run whole. */
const live = (raw = true) => {
  const writes: Array<string> = []
  const conn = {
    userId: crypto.randomUUID() as UserId,
    env: { options: { maxBufferedBytes: 1 << 20 } },
    send: (frame: Buffer) => void writes.push(frame.toString()),
    sendFrames: (frames: Buffer) => {
      if (raw) writes.push(`run ${frames.toString()}`)
      return raw
    }
  } as unknown as ConnectionState
  const subscription = new Subscription(conn)
  subscription.replay = null
  return { subscription, writes }
}

describe("a subscription's runs", () => {
  it("a run new to it goes out in one write, and later duplicates are dropped", () => {
    const { subscription, writes } = live()
    subscription.deliver(roomId, message(1))
    subscription.deliverRun(roomId, [message(2), message(3)], Buffer.from("m2m3"))
    subscription.deliver(roomId, message(3))
    subscription.deliver(roomId, message(4))
    expect(writes).toEqual(["m1", "run m2m3", "m4"])
    expect(subscription.lastSeq).toBe(4)
  })

  it("a run it has part of goes out message by message, without what it has", () => {
    const { subscription, writes } = live()
    subscription.deliver(roomId, message(2))
    subscription.deliverRun(roomId, [message(2), message(3)], Buffer.from("m2m3"))
    expect(writes).toEqual(["m2", "m3"])
    expect(subscription.lastSeq).toBe(3)
  })

  it("a run waits with the other live events while the subscription replays", () => {
    const { subscription, writes } = live()
    subscription.replay = []
    subscription.deliverRun(roomId, [message(1), message(2)], Buffer.from("m1m2"))
    expect(writes).toEqual([])
    expect(subscription.replay.map((d) => d.seq)).toEqual([1, 2])
  })

  it("a run the socket cannot take whole goes out message by message", () => {
    const { subscription, writes } = live(false)
    subscription.deliverRun(roomId, [message(1), message(2)], Buffer.from("m1m2"))
    expect(writes).toEqual(["m1", "m2"])
  })

  it("nothing once unsubscribed", () => {
    const { subscription, writes } = live()
    subscription.active = false
    subscription.deliverRun(roomId, [message(1), message(2)], Buffer.from("m1m2"))
    expect(writes).toEqual([])
  })
})
