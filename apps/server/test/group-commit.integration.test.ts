/**
 * Group commit on the real path: a server on SQLite, many WebSocket senders, and a write
 * slowed by another process holding the database's write lock while the sends queue. Batches
 * must form (seen in `/metrics`: `parley_room_batch_size`), and order must hold (history:
 * seq 1..N, each sender's messages in the order it sent them).
 */
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { history } from "./realtime.suite.ts"
import { type RunningServer, sqliteBackend, startServer } from "./support/server.ts"
import { type Account, account, connect, createRoom, joinRoom } from "./support/ws.ts"

const senders = 8
const perSender = 25
/** Sends that must be waiting behind the held write before the lock is released. */
const queuedBehind = 2 * senders

/** The room batch-size histogram's count, sum and per-bucket (cumulative) counts. */
const batchSizes = async (server: RunningServer) => {
  const text = await (await fetch(server.metricsUrl)).text()
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0)
  return {
    count: value(/^parley_room_batch_size_count(?:\{[^}]*\})? (\S+)$/m),
    sum: value(/^parley_room_batch_size_sum(?:\{[^}]*\})? (\S+)$/m),
    atMostOne: value(/^parley_room_batch_size_bucket\{[^}]*le="1"[^}]*\} (\S+)$/m),
    atMostEight: value(/^parley_room_batch_size_bucket\{[^}]*le="8"[^}]*\} (\S+)$/m),
    submitted: value(/^parley_messages_submitted_total(?:\{[^}]*\})? (\S+)$/m)
  }
}

/** Polls `/metrics` until `ready` holds: the event the lock holder waits for. */
const waitForMetrics = async (server: RunningServer, ready: (m: Awaited<ReturnType<typeof batchSizes>>) => boolean) => {
  for (;;) {
    if (ready(await batchSizes(server))) return
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe("group commit on a real server (SQLite)", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer(sqliteBackend, { RATE_MESSAGES_PER_USER: "100000" })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("sends that queue behind a slow write are stored in batches, in order", async () => {
    const owner = await account(server.url, "own")
    const roomId = await createRoom(server.url, owner)
    const people: Array<Account> = []
    for (let k = 0; k < senders; k++) {
      const who = await account(server.url, "snd")
      await joinRoom(server.url, roomId, who)
      people.push(who)
    }
    const sockets = await Promise.all(people.map((p) => connect(server.url, { token: p.token })))
    const baseline = await batchSizes(server)

    // Another process takes the write lock: the server's first write waits for it (without
    // blocking its event loop), and the other sends queue up behind that write meanwhile.
    const db = new DatabaseSync(join(server.env.PARLEY_DATA_DIR!, "parley.db"))
    db.exec("BEGIN IMMEDIATE")
    let locked = true
    try {
      // Every frame handed to the kernel (each send's callback), then the lock is held until
      // the server shows sends waiting behind the blocked write (well inside its 1.5 s
      // deadline for a busy database), so the next write must take them together.
      await Promise.all(
        sockets.flatMap((socket, k) =>
          Array.from(
            { length: perSender },
            (_, i) =>
              new Promise<void>((written, fail) =>
                socket.ws.send(
                  JSON.stringify({
                    type: "chat.message",
                    id: `${k}-${i}`,
                    to: roomId,
                    payload: { text: `s${k}-${i}`, client_msg_id: `c${k}-${i}` }
                  }),
                  (error) => (error ? fail(error) : written())
                )
              )
          )
        )
      )
      await waitForMetrics(server, (m) => m.submitted - m.sum >= baseline.submitted - baseline.sum + queuedBehind)
      db.exec("COMMIT")
      locked = false
    } finally {
      if (locked) db.exec("ROLLBACK")
      db.close()
    }
    for (const [k, socket] of sockets.entries()) {
      const last = await socket.next(
        (e) => (e.type === "ack" || e.type === "error") && e.id === `${k}-${perSender - 1}`
      )
      expect(last.type, JSON.stringify(last)).toBe("ack")
      expect(socket.events.filter((e) => e.type === "error")).toEqual([])
    }

    const now = await batchSizes(server)
    const writes = now.count - baseline.count
    const stored = now.sum - baseline.sum
    expect(stored).toBe(senders * perSender)
    // Batches formed: fewer writes than messages, and some write held more than one.
    expect(writes).toBeLessThan(stored)
    expect(now.count - now.atMostOne).toBeGreaterThan(baseline.count - baseline.atMostOne)
    // The sends that waited behind the held write went in one write (or few), not one by one.
    expect(now.count - now.atMostEight).toBeGreaterThan(baseline.count - baseline.atMostEight)
    console.info(`[group commit] ${stored} messages in ${writes} writes`)

    const messages = await history(server.url, owner.token, roomId)
    expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: senders * perSender }, (_, n) => n + 1))
    for (let k = 0; k < senders; k++) {
      const mine = messages.filter((m) => m.username === people[k]!.username).map((m) => m.text)
      expect(mine).toEqual(Array.from({ length: perSender }, (_, i) => `s${k}-${i}`))
    }
    for (const socket of sockets) socket.close()
  })
})
