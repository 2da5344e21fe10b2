/**
 * A stand-in for `src/sqlite/worker.ts` that offers `Messages`, `Users` and `PendingWords` and refuses every
 * append it is sent (StorageError, "refused by the stand-in"), and never answers anything else:
 * a test sees which appends reach the worker, and can keep a call waiting there.
 */
import { parentPort } from "node:worker_threads"
import { Cause } from "effect"
import { StorageError } from "../src/errors.ts"
import { type Call, type CallReply, encodeFailure, type Reply, type Request } from "../src/sqlite/worker-protocol.ts"

const refusal = "refused by the stand-in"

const port = parentPort!
port.on("message", (request: Request) => {
  if (!Array.isArray(request)) return port.close()
  const refused = (request as ReadonlyArray<Call>)
    .filter((call) => call.member === "append")
    .map(
      (call): CallReply => ({
        type: "failure",
        id: call.id,
        failure: encodeFailure(
          "Messages.append",
          Cause.fail(new StorageError({ operation: "Messages.append", cause: new Error(refusal) }))
        )
      })
    )
  if (refused.length > 0) port.postMessage(refused)
})
port.postMessage({
  type: "ready",
  services: [
    { key: "parley/storage/Messages", members: [{ name: "append", kind: "function" }] },
    // Offered (never answered) so that appends may be written on the server's thread.
    {
      key: "parley/storage/sqlite/PendingWords",
      members: [
        { name: "added", kind: "function" },
        { name: "index", kind: "effect" }
      ]
    },
    { key: "parley/storage/Users", members: [{ name: "findByUsername", kind: "function" }] }
  ]
} satisfies Reply)
