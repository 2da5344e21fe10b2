/**
 * What one delivery costs the server for each way of handing a frame to `ws`, with nothing
 * else in the process: S real sockets (a separate raw client process reads them), the same
 * 200-byte chat.message broadcast M times per round, CPU of this process per write
 * (`process.cpuUsage`, user + system). Methods run in turn, round after round, so a busy
 * machine weighs on all of them alike.
 *
 *   node apps/server/bench/profile/send-paths.ts [--sockets 1000] [--messages 50] [--rounds 5]
 */
import { createServer } from "node:http"
import { parseArgs } from "node:util"
import { type WebSocket, WebSocketServer } from "ws"
import { sleep, startClients } from "./harness.ts"

const { values } = parseArgs({
  options: {
    sockets: { type: "string", default: "1000" },
    messages: { type: "string", default: "50" },
    rounds: { type: "string", default: "5" }
  }
})
const sockets = Number(values.sockets)
const messages = Number(values.messages)

/** A whole unmasked text frame (FIN, opcode 1), built once for every socket. */
const textFrame = (json: string): Buffer => {
  const length = Buffer.byteLength(json)
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + length)
  frame[0] = 0x81
  if (head === 2) frame[1] = length
  else if (head === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(0, 2)
    frame.writeUInt32BE(length, 6)
  }
  frame.write(json, head, "utf8")
  return frame
}

const payload = (i: number) =>
  JSON.stringify({
    type: "chat.message",
    payload: {
      room_id: "0b6f8a52-0000-4000-8000-000000000000",
      msg_id: "d1525320-e968-11f1-b1ec-f582210fff25",
      seq: i,
      user_id: "d9a6c0de-0000-4000-8000-000000000000",
      username: "bench",
      text: `t=${Date.now()};${"x".repeat(180)}`,
      client_msg_id: null,
      created_at: new Date().toISOString()
    }
  })

type Method = (clients: ReadonlyArray<WebSocket>, i: number) => void
const methods: Record<string, Method> = {
  "ws.send(string) per socket (before)": (clients, i) => {
    const frame = payload(i)
    for (const ws of clients) ws.send(frame)
  },
  "ws.send(Buffer, {binary:false}) (payload Buffer once)": (clients, i) => {
    const frame = Buffer.from(payload(i))
    for (const ws of clients) ws.send(frame, { binary: false })
  },
  "sender.sendFrame([pre-built frame]) (frame once)": (clients, i) => {
    const frame = textFrame(payload(i))
    for (const ws of clients) (ws as any)._sender.sendFrame([frame])
  },
  "socket.write(pre-built frame) (no ws at all)": (clients, i) => {
    const frame = textFrame(payload(i))
    for (const ws of clients) (ws as any)._socket.write(frame)
  }
}

const http = createServer()
const wss = new WebSocketServer({ server: http, perMessageDeflate: false })
const open: Array<WebSocket> = []
wss.on("connection", (ws) => open.push(ws))
await new Promise<void>((done) => http.listen(0, "127.0.0.1", done))
const address = http.address()
const url = `ws://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/`
const clients = startClients()
try {
  await clients.call({ cmd: "open", url, tokens: [""], count: sockets, roomId: null, concurrency: 50, raw: true })
  const results: Record<string, Array<number>> = {}
  let seq = 0
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [name, method] of Object.entries(methods)) {
      const before = await clients.call({ cmd: "stats" })
      const cpu = process.cpuUsage()
      for (let m = 0; m < messages; m++) {
        method(open, seq++)
        // Let the event loop run the writes' callbacks, as a server between messages does.
        await new Promise((r) => setImmediate(r))
      }
      const used = process.cpuUsage(cpu)
      for (let waited = 0; waited < 10_000; waited += 100) {
        const now = await clients.call({ cmd: "stats", keep: true })
        if (now.messages - before.messages >= messages * open.length) break
        await sleep(100)
      }
      const us = (used.user + used.system) / (messages * open.length)
      results[name] = [...(results[name] ?? []), us]
      console.log(`round ${round + 1} ${name}: ${us.toFixed(2)} µs/delivery`)
    }
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  console.log(`\n| how a frame reaches ${open.length} sockets | µs/delivery (median of ${values.rounds}) |`)
  console.log("|---|---:|")
  for (const [name, xs] of Object.entries(results)) console.log(`| ${name} | ${median(xs).toFixed(2)} |`)
} finally {
  await clients.call({ cmd: "close" }).catch(() => undefined)
  clients.kill()
  for (const ws of open) ws.terminate()
  http.close()
}
