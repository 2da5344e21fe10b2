/**
 * The server's Node flags: Node accepts them (a misspelt one would stop `npm start`), and one
 * the operator names in NODE_OPTIONS is left out so theirs applies.
 */
import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { serverNodeFlags } from "../src/node-flags.ts"

describe("server node flags", () => {
  it("are flags this Node accepts, and cap the young generation", () => {
    const flags = serverNodeFlags("")
    expect(flags).toContain("--max-semi-space-size=16")
    const run = spawnSync(process.execPath, [...flags, "-e", "0"], { encoding: "utf8" })
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
  })

  it("leave out a flag NODE_OPTIONS sets", () => {
    expect(serverNodeFlags("--max-semi-space-size=64 --trace-gc")).not.toContain("--max-semi-space-size=16")
  })
})
