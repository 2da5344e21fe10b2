/**
 * Broadcast frames: built once per payload, written whole to each socket, and read by a real
 * `ws` client as TEXT frames with the exact payload, at every header size (7-bit, 16-bit and
 * 64-bit lengths); a socket whose sender is busy gets an ordinary text `send`; frames held
 * until the next turn leave in one write, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket, { WebSocketServer } from "ws"
import { holdUntilNextTurn, textFrame, textFrames, writeFrames, writeText } from "../src/ws/frames.ts"

describe("broadcast frames", () => {
  let server: WebSocketServer
  let port: number
  beforeAll(async () => {
    server = new WebSocketServer({ port: 0, host: "127.0.0.1" })
    await new Promise((r) => server.once("listening", r))
    port = (server.address() as { port: number }).port
  })
  afterAll(async () => {
    await new Promise((r) => server.close(r))
  })

  /** A `ws` client of the server, and the server's socket for it; `all` settles once `count` messages came. */
  const connected = async (count: number) => {
    const accepted = new Promise<WebSocket>((r) => server.once("connection", r))
    const client = new WebSocket(`ws://127.0.0.1:${port}`)
    const received: Array<{ text: string; binary: boolean }> = []
    const all = new Promise<void>((done) =>
      client.on("message", (data, isBinary) => {
        received.push({ text: data.toString(), binary: isBinary })
        if (received.length === count) done()
      })
    )
    return { socket: await accepted, client, received, all }
  }

  it("reach a ws client as text frames with the exact payload, whatever their length", async () => {
    const payloads = [10, 125, 126, 65_535, 65_536, 200_000].map((n) =>
      JSON.stringify({ type: "chat.message", payload: { text: "é".repeat(Math.max(0, (n - 40) / 2)) } })
    )
    const { socket, client, received, all } = await connected(payloads.length + 1)
    for (const p of payloads) writeText(socket, Buffer.from(p))
    writeText(socket, "a reply")
    await all
    client.close()
    expect(received.map((r) => r.binary)).toEqual(payloads.map(() => false).concat(false))
    expect(received.map((r) => r.text)).toEqual([...payloads, "a reply"])
  })

  it("are built once for a payload handed to many sockets", () => {
    const payload = Buffer.from('{"type":"pong"}')
    expect(textFrame(payload)).toBe(textFrame(payload))
    expect(textFrame(payload).subarray(2).toString()).toBe('{"type":"pong"}')
  })

  it("of a run of messages reach a ws client as one text frame each, from one write", async () => {
    const payloads = [10, 300, 70_000].map((n) =>
      JSON.stringify({ type: "chat.message", payload: { text: "x".repeat(n) } })
    )
    const { socket, client, received, all } = await connected(payloads.length)
    const tcp = (socket as unknown as { _socket: { write: (...args: Array<any>) => boolean } })._socket
    const write = tcp.write.bind(tcp)
    let writes = 0
    tcp.write = (...args) => {
      writes++
      return write(...args)
    }
    expect(writeFrames(socket, textFrames(payloads.map((p) => Buffer.from(p))))).toBe(true)
    await all
    client.close()
    expect(received.map((r) => r.text)).toEqual(payloads)
    expect(writes).toBe(1)
  })

  it("of a run are refused, unwritten, by a socket whose sender is busy, for the caller to send one by one", () => {
    const sent: Array<unknown> = []
    const busy = {
      _sender: { _state: 1, _firstFragment: true, sendFrame: () => sent.push("raw") },
      send: (data: string | Buffer) => sent.push(data.toString())
    }
    expect(writeFrames(busy, textFrames([Buffer.from("{}")]))).toBe(false)
    expect(writeFrames({ send: () => sent.push("fake") }, textFrames([Buffer.from("{}")]))).toBe(false)
    expect(sent).toEqual([])
  })

  it("go through an ordinary text send when the socket's sender is busy", () => {
    const sent: Array<unknown> = []
    const busy = {
      _sender: { _state: 1, _firstFragment: true, sendFrame: () => sent.push("raw") },
      send: (data: string | Buffer, options?: { readonly binary?: boolean }) => sent.push([data.toString(), options])
    }
    writeText(busy, Buffer.from("{}"))
    expect(sent).toEqual([["{}", { binary: false }]])
  })
  it("held until the loop's next turn, leave the socket in one write, in order", async () => {
    const { socket, client, received, all } = await connected(4)
    // What reaches the TCP handle: one call per system call (`_writev` for a batch).
    type Write = (...args: Array<any>) => void
    const tcp = (socket as unknown as { _socket: { _write: Write; _writev: Write } })._socket
    const handleWrites: Array<number> = []
    const write = tcp._write.bind(tcp)
    const writev = tcp._writev.bind(tcp)
    tcp._write = (...args) => {
      handleWrites.push(1)
      write(...args)
    }
    tcp._writev = (chunks: Array<unknown>, cb: unknown) => {
      handleWrites.push(chunks.length)
      writev(chunks, cb)
    }
    holdUntilNextTurn(socket)
    holdUntilNextTurn(socket)
    for (const n of [1, 2, 3]) writeText(socket, Buffer.from(`{"n":${n}}`))
    writeText(socket, "a reply")
    expect(handleWrites).toEqual([])
    await all
    client.close()
    expect(received.map((r) => r.text)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', "a reply"])
    expect(handleWrites.length).toBe(1)
  })
})
