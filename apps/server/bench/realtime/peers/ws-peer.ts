/**
 * The raw `ws` peer: a broadcast loop and nothing else (no auth, no rooms, no storage).
 * Every text frame a client sends goes to every other open client.
 * `node ws-peer.ts <port>`; prints "listening" once it accepts connections.
 */
import { WebSocket, WebSocketServer } from "ws"

const server = new WebSocketServer({ host: "127.0.0.1", port: Number(process.argv[2]), perMessageDeflate: false })
server.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => {
    for (const client of server.clients) {
      if (client !== socket && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary })
    }
  })
})
server.on("listening", () => console.log("listening"))
