/**
 * One SQLite node killed with SIGKILL mid-stream, then restarted on the same data directory:
 * every acknowledged message is stored, resending the unacknowledged ones with their
 * `client_msg_id` stores each exactly once, and what was stored before the crash keeps its
 * place in history.
 */
import { afterAll, describe, expect, it } from "vitest"
import { history } from "./realtime.suite.ts"
import { type RunningServer, sqliteBackend, startServer } from "./support/server.ts"
import { type Account, account, connect, createRoom, joinRoom, type TestSocket } from "./support/ws.ts"

const limits = { RATE_MESSAGES_PER_USER: "100000" }
const senders = 3
const perSender = 150
const window = 8
/** Acknowledged sends (all senders) after which the server is killed. */
const crashAfter = 120

const text = (k: number, i: number) => `s${k}-${i}`
const clientId = (k: number, i: number) => `c${k}-${i}`

interface Ack {
  readonly msgId: string
  readonly seq: number
}

/**
 * Sends `indexes` for sender `k` with at most `window` unacknowledged, recording each ack;
 * stops sending when the socket closes.
 */
const stream = (
  socket: TestSocket,
  roomId: string,
  k: number,
  indexes: ReadonlyArray<number>,
  acks: Map<string, Ack>
) =>
  new Promise<void>((done) => {
    let next = 0
    let inFlight = 0
    const pump = () => {
      while (inFlight < window && next < indexes.length && socket.ws.readyState === socket.ws.OPEN) {
        const i = indexes[next++]!
        inFlight++
        socket.send({
          type: "chat.message",
          id: clientId(k, i),
          to: roomId,
          payload: { text: text(k, i), client_msg_id: clientId(k, i) }
        })
      }
      if (inFlight === 0 && next === indexes.length) done()
    }
    socket.ws.on("message", (data) => {
      const event = JSON.parse(data.toString())
      if (event.type !== "ack" && event.type !== "error") return
      inFlight--
      if (event.type === "ack") acks.set(event.id, { msgId: event.payload.msg_id, seq: event.payload.seq })
      pump()
    })
    socket.ws.on("close", () => done())
    pump()
  })

describe("crash of a SQLite node (kill -9) mid-stream", () => {
  /** Crashed by the test (or still running when it failed), then the restarted one. */
  const servers: Array<RunningServer> = []
  let crashed = false
  afterAll(async () => {
    if (!crashed) await servers[0]?.crash()
    // Both processes share one data directory: stopping the last one removes it.
    await servers[servers.length - 1]?.stop()
  })

  it("keeps every acked message, stores each resent one once, and keeps the order of what was stored", async () => {
    const first = await startServer(sqliteBackend, limits)
    servers.push(first)
    const owner = await account(first.url, "own")
    const roomId = await createRoom(first.url, owner)
    const people: Array<Account> = []
    for (let k = 0; k < senders; k++) {
      const who = await account(first.url, "snd")
      await joinRoom(first.url, roomId, who)
      people.push(who)
    }
    const watcher = await connect(first.url, { token: owner.token, roomId })
    await watcher.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")

    const acks = new Map<string, Ack>()
    const sockets = await Promise.all(people.map((p) => connect(first.url, { token: p.token })))
    const all = Array.from({ length: perSender }, (_, i) => i)
    const streams = sockets.map((socket, k) => stream(socket, roomId, k, all, acks))
    // Killed once enough is acknowledged, while every sender still has sends in flight.
    await new Promise<void>((enough) => {
      const check = () => (acks.size >= crashAfter ? enough() : undefined)
      for (const socket of sockets) socket.ws.on("message", check)
    })
    await first.crash()
    crashed = true
    await Promise.all(streams)
    expect(acks.size).toBeLessThan(senders * perSender)
    const seenLive = watcher.messages(roomId).map((e) => e.payload.msg_id)

    const second = await startServer(sqliteBackend, { ...limits, PARLEY_DATA_DIR: first.env.PARLEY_DATA_DIR! })
    servers.push(second)
    const before = await history(second.url, owner.token, roomId)
    expect(before.map((m) => m.seq)).toEqual(before.map((_, n) => n + 1))
    // Every acknowledged message is stored, as acknowledged.
    const byClientId = new Map(before.map((m) => [m.client_msg_id, m]))
    for (const [id, ack] of acks) {
      expect(byClientId.get(id), `acked ${id} is missing`).toMatchObject({ msg_id: ack.msgId, seq: ack.seq })
    }
    // What subscribers saw live is history's beginning, in the same order.
    expect(before.slice(0, seenLive.length).map((m) => m.msg_id)).toEqual(seenLive)

    // Resend everything not acknowledged, with its client_msg_id, on the restarted node.
    const retryAcks = new Map<string, Ack>()
    const again = await Promise.all(people.map((p) => connect(second.url, { token: p.token })))
    await Promise.all(
      again.map((socket, k) =>
        stream(
          socket,
          roomId,
          k,
          all.filter((i) => !acks.has(clientId(k, i))),
          retryAcks
        )
      )
    )
    expect(acks.size + retryAcks.size).toBe(senders * perSender)
    // A resent message that was stored before the crash is answered with its original.
    for (const [id, ack] of retryAcks) {
      const stored = byClientId.get(id)
      if (stored !== undefined) expect(ack.msgId).toBe(stored.msg_id)
    }

    const after = await history(second.url, owner.token, roomId)
    expect(after.map((m) => m.seq)).toEqual(after.map((_, n) => n + 1))
    const keys = after.map((m) => m.client_msg_id)
    expect(new Set(keys).size).toBe(keys.length)
    expect(keys.length).toBe(senders * perSender)
    expect(after.slice(0, before.length).map((m) => m.msg_id)).toEqual(before.map((m) => m.msg_id))
    // Each sender's messages are stored in the order it sent them.
    for (let k = 0; k < senders; k++) {
      const mine = after.filter((m) => m.username === people[k]!.username).map((m) => m.text)
      expect(mine).toEqual(all.map((i) => text(k, i)))
    }
    for (const socket of [...again, watcher]) socket.close()
  })
})
