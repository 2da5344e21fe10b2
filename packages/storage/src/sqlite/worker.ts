/**
 * The SQLite worker thread (started by `worker-layer.ts`): it owns the connection, builds the
 * in-thread storage layer, describes every service it provides, then runs each call it is sent
 * and answers with the call's id. `node:sqlite` is synchronous, so every statement, WAL
 * checkpoint and write transaction stalls this thread instead of the server's event loop.
 */
import { parentPort, workerData } from "node:worker_threads"
import { Cause, Effect, Exit, Layer, Scope } from "effect"
import type { SqliteOptions } from "./database.ts"
import { layer } from "./layer.ts"
import {
  batcher,
  type Call,
  type CallReply,
  encodeFailure,
  fromWire,
  type Member,
  type Reply,
  type Request,
  type ServiceShape,
  toWire
} from "./worker-protocol.ts"

const port = parentPort!
const post = (reply: Reply) => port.postMessage(reply)

/** Replies of one event-loop turn go together (see `worker-layer.ts`); one that cannot cross (see `toWire`) fails its own call. */
const answer = batcher<CallReply>(port, (reply, error) =>
  port.postMessage([{ type: "failure", id: reply.id, failure: encodeFailure("sqlite.reply", Cause.die(error)) }])
)

const describe = (key: string, service: Record<string, unknown>): ServiceShape => ({
  key,
  members: Object.keys(service).map((name): Member => {
    const member = service[name]
    if (typeof member === "function") return { name, kind: "function" }
    if (Effect.isEffect(member)) return { name, kind: "effect" }
    return { name, kind: "value", value: toWire(member) }
  })
})

const data = workerData as { readonly filename: string; readonly options?: SqliteOptions }
const scope = Effect.runSync(Scope.make())
const built = await Effect.runPromiseExit(Layer.buildWithScope(layer(data.filename, data.options), scope))

if (Exit.isFailure(built)) {
  post({ type: "failed", failure: encodeFailure("sqlite.open", built.cause) })
  port.close()
} else {
  const services = built.value.mapUnsafe as ReadonlyMap<string, Record<string, unknown>>
  const run = (request: Call) => {
    const operation = `${request.service}.${request.member}`
    const effect = Effect.suspend(() => {
      const member = services.get(request.service)?.[request.member]
      if (typeof member === "function") return member(...request.args.map(fromWire)) as Effect.Effect<unknown, unknown>
      if (Effect.isEffect(member)) return member as Effect.Effect<unknown, unknown>
      return Effect.die(new Error(`no storage method ${operation}`))
    })
    Effect.runFork(effect).addObserver((exit) => {
      try {
        answer(
          Exit.isSuccess(exit)
            ? { type: "success", id: request.id, value: toWire(exit.value) }
            : { type: "failure", id: request.id, failure: encodeFailure(operation, exit.cause) }
        )
      } catch (error) {
        // A result that cannot cross (see `toWire`): the caller gets StorageError, not silence.
        answer({ type: "failure", id: request.id, failure: encodeFailure(operation, Cause.die(error)) })
      }
    })
  }
  port.on("message", (request: Request) => {
    if (Array.isArray(request)) {
      for (const call of request as ReadonlyArray<Call>) run(call)
      return
    }
    // Closing the scope closes the database (its WAL is checkpointed); then the thread ends.
    Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => port.close())
  })
  post({
    type: "ready",
    // The built context also holds Effect's own entries (its layer memo map): only the storage
    // services, plain objects of methods, are offered.
    services: Array.from(services)
      .filter(([, service]) => Object.getPrototypeOf(service) === Object.prototype)
      .map(([key, service]) => describe(key, service))
  })
}
