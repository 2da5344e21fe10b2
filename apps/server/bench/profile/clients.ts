/**
 * The load side of the profiling scripts, run as its own process (`fork`) so its CPU never
 * counts as the server's: raw `ws` clients driven over IPC. Frames are counted without
 * parsing; only messages that carry a send time (`t=<ms>;`) are looked into, on a sample of
 * the sockets, for the send→deliver latency.
 */
import { connect, type Socket } from "node:net"
import WebSocket from "ws"

type Command =
  | {
      readonly cmd: "open"
      readonly url: string
      readonly tokens: ReadonlyArray<string>
      readonly count: number
      readonly roomId: string | null
      readonly concurrency: number
      /** Plain TCP after a hand-made upgrade; frames are never parsed, only scanned (the server must not ping). */
      readonly raw?: boolean
    }
  | {
      readonly cmd: "send"
      readonly url: string
      readonly token: string
      readonly roomId: string
      readonly rate: number
      readonly seconds: number
      readonly bytes: number
    }
  | { readonly cmd: "stats"; readonly keep?: boolean }
  | { readonly cmd: "closeAll" }
  | { readonly cmd: "close" }

const sockets: Array<WebSocket> = []
const rawSockets: Array<Socket> = []
let frames = 0
let messages = 0
const latencies: Array<number> = []
const marker = Buffer.from('"text":"t=')

const reply = (message: unknown) => process.send!(message)

/** Opens one socket; resolves once it is open and, with a room, once the subscribe is acked. */
const openOne = (url: string, token: string, roomId: string | null, sample: boolean) =>
  new Promise<boolean>((done) => {
    const ws = new WebSocket(`${url}?token=${token}${roomId ? `&room_id=${roomId}` : ""}`, {
      perMessageDeflate: false
    })
    let settled = false
    const settle = (ok: boolean) => {
      if (settled) return
      settled = true
      done(ok)
    }
    ws.on("open", () => {
      sockets.push(ws)
      if (roomId === null) settle(true)
    })
    ws.on("message", (data: Buffer) => {
      frames++
      if (!settled && data.includes('"of":"channel.subscribe"')) settle(true)
      const at = data.indexOf(marker)
      if (at < 0) return
      messages++
      if (!sample) return
      const start = at + marker.length
      const end = data.indexOf(59, start) // ';'
      latencies.push(Date.now() - Number(data.toString("latin1", start, end)))
    })
    ws.on("error", () => settle(false))
    ws.on("close", () => settle(false))
  })

/** Counts message markers in a chunk, and one split across the previous chunk's end. */
const scan = (chunk: Buffer, tail: Buffer, sample: boolean): Buffer => {
  const seam = Buffer.concat([tail, chunk.subarray(0, marker.length - 1)])
  if (seam.includes(marker)) messages++
  for (let at = chunk.indexOf(marker); at >= 0; at = chunk.indexOf(marker, at + marker.length)) {
    messages++
    if (!sample) continue
    const start = at + marker.length
    const end = chunk.indexOf(59, start) // ';'
    if (end > start) latencies.push(Date.now() - Number(chunk.toString("latin1", start, end)))
  }
  return chunk.subarray(Math.max(0, chunk.length - (marker.length - 1)))
}

/** A WebSocket client that is only a TCP socket: the upgrade by hand, then frames scanned as bytes. */
const openRaw = (url: string, token: string, roomId: string | null, sample: boolean) =>
  new Promise<boolean>((done) => {
    const target = new URL(`${url}?token=${token}${roomId ? `&room_id=${roomId}` : ""}`)
    const socket = connect({ host: target.hostname, port: Number(target.port) })
    let upgraded = false
    let settled = false
    let head: Buffer = Buffer.alloc(0)
    let tail: Buffer = Buffer.alloc(0)
    const settle = (ok: boolean) => {
      if (settled) return
      settled = true
      done(ok)
    }
    socket.on("connect", () =>
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
      )
    )
    socket.on("data", (chunk: Buffer) => {
      if (!upgraded) {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf("\r\n\r\n")
        if (end < 0) return
        if (!head.toString("latin1", 0, 12).includes(" 101")) {
          socket.destroy()
          return settle(false)
        }
        upgraded = true
        rawSockets.push(socket)
        if (roomId === null) settle(true)
        chunk = head.subarray(end + 4)
      }
      if (!settled && chunk.includes('"of":"channel.subscribe"')) settle(true)
      tail = scan(chunk, tail, sample)
    })
    socket.on("error", () => settle(false))
    socket.on("close", () => settle(false))
  })

const open = async (command: Extract<Command, { cmd: "open" }>) => {
  const started = Date.now()
  let next = 0
  let failed = 0
  const worker = async () => {
    while (next < command.count) {
      const i = next++
      const token = command.tokens[i % command.tokens.length]!
      const ok = await (command.raw ? openRaw : openOne)(command.url, token, command.roomId, i % 10 === 0)
      if (!ok) failed++
    }
  }
  await Promise.all(Array.from({ length: command.concurrency }, worker))
  return { opened: command.count - failed, failed, ms: Date.now() - started }
}

/** One sender at a fixed rate; the text starts with its send time and is padded to `bytes`. */
const send = (command: Extract<Command, { cmd: "send" }>) =>
  new Promise<{ sent: number; acked: number; errors: number; errorCodes: Record<string, number> }>((done, fail) => {
    const ws = new WebSocket(`${command.url}?token=${command.token}`, { perMessageDeflate: false })
    let sent = 0
    let acked = 0
    let errors = 0
    const errorCodes: Record<string, number> = {}
    ws.on("message", (data: Buffer) => {
      if (data.includes('"type":"ack"')) acked++
      else if (data.includes('"type":"error"')) {
        errors++
        const code = /"code":"(\w+)"/.exec(data.toString())?.[1] ?? "?"
        errorCodes[code] = (errorCodes[code] ?? 0) + 1
      }
    })
    ws.on("error", fail)
    ws.on("open", () => {
      const total = Math.round(command.rate * command.seconds)
      const started = Date.now()
      const tick = () => {
        // Catch up to the schedule, so timer jitter does not lower the rate.
        const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * command.rate) + 1)
        while (sent < due) {
          const head = `t=${Date.now()};`
          const text = head + "x".repeat(Math.max(0, command.bytes - head.length))
          ws.send(JSON.stringify({ type: "chat.message", id: String(sent), to: command.roomId, payload: { text } }))
          sent++
        }
        if (sent < total) setTimeout(tick, 2)
        else setTimeout(() => ws.close(), 500)
      }
      tick()
    })
    ws.on("close", () => done({ sent, acked, errors, errorCodes }))
  })

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

process.on("message", async (command: Command) => {
  try {
    switch (command.cmd) {
      case "open":
        return reply(await open(command))
      case "send":
        return reply(await send(command))
      case "stats": {
        const sorted = command.keep ? [] : [...latencies].sort((a, b) => a - b)
        if (!command.keep) latencies.length = 0
        const stats = {
          open:
            sockets.filter((s) => s.readyState === WebSocket.OPEN).length +
            rawSockets.filter((s) => !s.destroyed).length,
          frames,
          messages,
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99)
        }
        return reply(stats)
      }
      case "closeAll": {
        const closing = sockets.map(
          (s) => new Promise((done) => (s.readyState === WebSocket.CLOSED ? done(null) : s.once("close", done)))
        )
        for (const s of sockets) s.close()
        const closingRaw = rawSockets.map(
          (s) => new Promise((done) => (s.destroyed ? done(null) : s.once("close", done)))
        )
        for (const s of rawSockets) s.destroy()
        await Promise.all([...closing, ...closingRaw])
        const closed = sockets.length + rawSockets.length
        sockets.length = 0
        rawSockets.length = 0
        return reply({ closed })
      }
      case "close":
        for (const s of sockets) s.terminate()
        for (const s of rawSockets) s.destroy()
        reply({ closed: sockets.length })
        return process.exit(0)
    }
  } catch (error) {
    reply({ error: String(error) })
  }
})
