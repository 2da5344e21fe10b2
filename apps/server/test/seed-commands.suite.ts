/** The seed's Health and Auth command reference (curl + python one-liners) as a script, against a real server. */
import { spawnSync } from "node:child_process"
import { resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"

const script = resolve(import.meta.dirname, "../../../scripts/seed/health-auth.sh")

export const seedCommandsSuite = (backend: Backend) =>
  describe(`seed command reference (${backend.name})`, () => {
    let server: RunningServer
    beforeAll(async () => {
      server = await startServer(backend)
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("runs the Health and Auth commands as written", () => {
      const run = spawnSync("bash", [script], { env: { ...process.env, PARLEY_URL: server.url }, encoding: "utf8" })
      expect(run.stdout, run.stdout + run.stderr).toMatch(/^\d+ passed, 0 failed$/m)
      expect(run.status).toBe(0)
    })
  })
