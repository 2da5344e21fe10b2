/**
 * Broadcast frames: built once per payload, written whole to each socket, and read by a real
 * `ws` client as TEXT frames with the exact payload, at every header size (7-bit, 16-bit and
 * 64-bit lengths); a socket whose sender is busy gets an ordinary text `send`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket, { WebSocketServer } from "ws"
import { textFrame, writeText } from "../src/ws/frames.ts"

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

  it("reach a ws client as text frames with the exact payload, whatever their length", async () => {
    const payloads = [10, 125, 126, 65_535, 65_536, 200_000].map((n) =>
      JSON.stringify({ type: "chat.message", payload: { text: "é".repeat(Math.max(0, (n - 40) / 2)) } })
    )
    const accepted = new Promise<WebSocket>((r) => server.once("connection", r))
    const client = new WebSocket(`ws://127.0.0.1:${port}`)
    const received: Array<{ text: string; binary: boolean }> = []
    const all = new Promise<void>((done) =>
      client.on("message", (data, isBinary) => {
        received.push({ text: data.toString(), binary: isBinary })
        if (received.length === payloads.length + 1) done()
      })
    )
    const socket = await accepted
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

  it("go through an ordinary text send when the socket's sender is busy", () => {
    const sent: Array<unknown> = []
    const busy = {
      _sender: { _state: 1, _firstFragment: true, sendFrame: () => sent.push("raw") },
      send: (data: string | Buffer, options?: { readonly binary?: boolean }) => sent.push([data.toString(), options])
    }
    writeText(busy, Buffer.from("{}"))
    expect(sent).toEqual([["{}", { binary: false }]])
  })
})
