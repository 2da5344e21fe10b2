/**
 * Writing a broadcast: the same bytes go to every subscriber, so the WebSocket frame (header
 * and payload; server frames are not masked) is built once per broadcast and each socket gets
 * one `write` of it, as engine.io does with its pre-encoded frames. No per-subscriber header,
 * string encoding or cork/writev. A socket whose sender is busy (a compressed or queued
 * message in flight, never the case with compression off) gets the ordinary `send`.
 *
 * Broadcast frames are text frames (opcode 1): clients read them like any other event.
 */

/** The part of `ws`'s internal sender this uses (ws 8: `lib/sender.js`). */
interface RawSender {
  readonly _state: number
  readonly _firstFragment: boolean
  sendFrame(list: ReadonlyArray<Buffer>, cb?: () => void): void
}

/** What a connection writes to: a `ws` WebSocket, or a test's fake (no `_sender`). */
export interface FrameSocket {
  send(data: string | Buffer): void
  send(data: string | Buffer, options: { binary: boolean }): void
  readonly _sender?: unknown
}

/** The sender's idle state: nothing queued, nothing being compressed. */
const senderIdle = 0

const empty = Buffer.alloc(0)
/** The one-element frame list handed to `sendFrame` (no array per delivery). */
const one: Array<Buffer> = [empty]

let lastPayload: Buffer | undefined
let lastFrame: Buffer | undefined

/** The unmasked, final text frame carrying `payload` (UTF-8 JSON). */
export const textFrame = (payload: Buffer): Buffer => {
  // A broadcast hands one payload to every subscriber in a row: build its frame once.
  if (payload === lastPayload) return lastFrame!
  const length = payload.length
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10
  const frame = Buffer.allocUnsafe(header + length)
  frame[0] = 0x81
  if (header === 2) {
    frame[1] = length
  } else if (header === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  payload.copy(frame, header)
  lastPayload = payload
  lastFrame = frame
  return frame
}

/** Sends an encoded event as a text frame: a shared pre-built frame for a `Buffer`, `send` for a string. */
export const writeText = (socket: FrameSocket, data: string | Buffer): void => {
  if (typeof data === "string") {
    socket.send(data)
    return
  }
  if (!writeFrames(socket, textFrame(data))) socket.send(data, { binary: false })
}

/** Several payloads' frames back to back: one buffer per run of messages, written whole to each socket. */
export const textFrames = (payloads: ReadonlyArray<Buffer>): Buffer => Buffer.concat(payloads.map(textFrame))

/**
 * Writes frames built by `textFrames` in one write; false, writing nothing, when the socket
 * cannot take raw frames now (its sender is busy, or a test's fake): the caller sends them one by one.
 */
export const writeFrames = (socket: FrameSocket, frames: Buffer): boolean => {
  const sender = socket._sender as RawSender | undefined
  if (sender === undefined || sender._state !== senderIdle || !sender._firstFragment) return false
  // `sendFrame` writes `list[0]` at once and keeps nothing: one list serves every delivery.
  one[0] = frames
  sender.sendFrame(one)
  one[0] = empty
  return true
}

/** The part of the TCP socket under a `ws` WebSocket that `corked` uses. */
interface Corkable {
  cork(): void
  uncork(): void
  readonly writableCorked: number
}

const rawSocket = (socket: FrameSocket) => (socket as { readonly _socket?: Corkable })._socket

/** Sockets held by `holdUntilNextTurn`, released together by one `setImmediate`. */
let held: Array<Corkable> = []
const releaseHeld = () => {
  // Taken first: a socket held while these uncork waits for a turn of its own, never forgotten corked.
  const release = held
  held = []
  for (const raw of release) raw.uncork()
}

/**
 * Holds the socket's writes until the event loop's next turn. A group commit answers many
 * sends of one socket in the same turn: their acks then leave in one system call, not one
 * each. An already held socket (or a fake one) is left as it is.
 */
export const holdUntilNextTurn = (socket: FrameSocket): void => {
  const raw = rawSocket(socket)
  if (raw === undefined || raw.writableCorked > 0) return
  raw.cork()
  if (held.length === 0) setImmediate(releaseHeld)
  held.push(raw)
}

/**
 * Runs `write` with the socket's writes held, so the frames it sends (an ack and the online
 * list after it) leave in one write, not one system call each. A fake socket writes as usual.
 */
export const corked = (socket: FrameSocket, write: () => void): void => {
  const raw = rawSocket(socket)
  raw?.cork()
  try {
    write()
  } finally {
    raw?.uncork()
  }
}
