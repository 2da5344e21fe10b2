/**
 * A stand-in for `src/sqlite/worker.ts` that offers `Users` and `Rooms` and then misbehaves:
 * it never answers a call, and `findByUsername` ends the thread (as a crash would), so the test
 * can see what becomes of calls still waiting for their reply.
 */
import { parentPort } from "node:worker_threads"
import type { Call, Reply, Request } from "../src/sqlite/worker-protocol.ts"

const port = parentPort!
port.on("message", (request: Request) => {
  if (Array.isArray(request) && request.some((call: Call) => call.member === "findByUsername")) process.exit(1)
})
port.postMessage({
  type: "ready",
  services: [
    {
      key: "parley/storage/Users",
      members: [
        { name: "findById", kind: "function" },
        { name: "findWithSession", kind: "function" },
        { name: "findByUsername", kind: "function" },
        { name: "findByEmail", kind: "function" }
      ]
    },
    {
      key: "parley/storage/Rooms",
      members: [
        { name: "get", kind: "function" },
        { name: "membership", kind: "function" },
        { name: "getWithMembership", kind: "function" }
      ]
    }
  ]
} satisfies Reply)
