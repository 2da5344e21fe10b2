/**
 * The Socket.IO 4 peer, WebSocket transport only, no auth, no storage. A client that connects
 * with `?room=<name>` is put in that room and told `joined`; a `msg` event from any client
 * goes to everyone in the room "bench" (Socket.IO encodes the packet once per broadcast).
 * `node socketio-peer.ts <port>`; prints "listening" once it accepts connections.
 */
import { createServer } from "node:http"
import { Server } from "socket.io"

const http = createServer()
const io = new Server(http, { transports: ["websocket"], serveClient: false })
io.on("connection", (socket) => {
  const room = socket.handshake.query.room
  if (typeof room === "string") {
    void socket.join(room)
    socket.emit("joined")
  }
  socket.on("msg", (text: string) => {
    socket.to("bench").emit("msg", text)
  })
})
http.listen(Number(process.argv[2]), "127.0.0.1", () => console.log("listening"))
