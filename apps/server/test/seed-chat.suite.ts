/**
 * The seed's "Rooms & Messages" and "WebSocket" command reference (curl, sed and python
 * one-liners, two wscat clients) as a script, against a real server.
 */
import { spawnSync } from "node:child_process"
import { resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"

const script = resolve(import.meta.dirname, "../../../scripts/seed/rooms-ws.sh")
/** `wscat` as the seed runs it: the server package's dev dependency. */
const bin = resolve(import.meta.dirname, "../node_modules/.bin")

export const seedChatSuite = (backend: Backend) =>
  describe(`seed chat command reference (${backend.name})`, () => {
    let server: RunningServer
    beforeAll(async () => {
      server = await startServer(backend)
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("runs the Rooms & Messages and WebSocket commands as written", () => {
      const run = spawnSync("bash", [script], {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, PARLEY_URL: server.url },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 120_000
      })
      const output = `${run.stdout}${run.stderr}${run.error ? `\n${run.error}` : ""}`
      // Every check of the script, by name: none may silently go missing.
      for (const check of [
        "create room",
        "ROOM_ID from the create response",
        "post message",
        "history",
        "wscat B receives the message A sent",
        "message persisted"
      ]) {
        expect(run.stdout, output).toMatch(new RegExp(`^ok +${check}`, "m"))
      }
      expect(run.stdout, output).toMatch(/^\d+ passed, 0 failed$/m)
      expect(run.status, output).toBe(0)
    })
  })
