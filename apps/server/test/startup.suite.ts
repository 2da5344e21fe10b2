/** What a client sees while the server starts: refused, or answered; never left hanging. */
import { connect } from "node:net"
import { describe, expect, it } from "vitest"
import { type Backend, freePort, startServer } from "./support/server.ts"

/** One raw HTTP/1.1 request: "refused", "answered", or "hung" if no byte comes back in time. */
const probe = (port: number, timeoutMs: number) =>
  new Promise<"refused" | "answered" | "hung">((done) => {
    const socket = connect(port, "127.0.0.1")
    const timer = setTimeout(() => {
      socket.destroy()
      done("hung")
    }, timeoutMs)
    socket.once("error", () => {
      clearTimeout(timer)
      done("refused")
    })
    socket.once("connect", () => socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    socket.once("data", () => {
      clearTimeout(timer)
      socket.destroy()
      done("answered")
    })
  })

export const startupSuite = (backend: Backend) =>
  describe(`startup (${backend.name})`, () => {
    it("answers every connection it accepts, also while storage is still being prepared", async () => {
      const port = await freePort()
      const starting = startServer(backend, { PORT: String(port) })
      const outcomes: Array<string> = []
      // Probes run back to back from the moment the process is spawned until one is answered.
      for (;;) {
        const outcome = await probe(port, 5000)
        outcomes.push(outcome)
        if (outcome !== "refused") break
        await new Promise((r) => setTimeout(r, 10))
      }
      const server = await starting
      await server.stop()
      expect(outcomes.at(-1)).toBe("answered")
      expect(outcomes.length).toBeGreaterThan(1)
    })
  })
