/**
 * Every SQLite storage service, run on a worker thread (issue 9 §4). `node:sqlite` is
 * synchronous: on the server's own thread a write storm held its event loop for 60-800 ms at
 * p99 (every socket waiting). Here a `node:worker_threads` Worker owns the connection and builds
 * the in-thread `layer`; this thread gets the same services as proxies, made from the shapes the
 * worker reports (no list of methods here), whose calls post `{ id, service, member, args }` and
 * resume when the reply with that id comes back. A few calls are answered on this thread
 * instead, where the trip would cost more than the call: point reads (`readsHere`) and a small
 * append while the worker is idle (`appends-here.ts`).
 */
import { Worker } from "node:worker_threads"
import { Context, Effect, Layer, Tracer } from "effect"
import { StorageError } from "../errors.ts"
import { Messages } from "../messages.ts"
import { Rooms } from "../rooms.ts"
import { Sessions } from "../sessions.ts"
import { Users } from "../users.ts"
import { appendsHere, smallEnoughHere } from "./appends-here.ts"
import { checkpointInBackground } from "./checkpoints.ts"
import { isBusy, SqliteDatabase, type SqliteOptions } from "./database.ts"
import type { layer } from "./layer.ts"
import { SqliteMessages } from "./messages.ts"
import { SqliteRooms } from "./rooms.ts"
import { PendingWords } from "./search-pending.ts"
import { SqliteSessions } from "./sessions.ts"
import { SqliteUsers } from "./users.ts"
import {
  batcher,
  type Call,
  type CallReply,
  decodeFailure,
  type Failure,
  fromWire,
  type Reply,
  type Request,
  type ServiceShape,
  toWire
} from "./worker-protocol.ts"

type Services = Layer.Success<ReturnType<typeof layer>>

interface Pending {
  readonly operation: string
  readonly resume: (effect: Effect.Effect<unknown, Failure>) => void
}

const shortName = (key: string) => key.slice(key.lastIndexOf("/") + 1)

/**
 * The worker as a connection: `call` sends one call and waits for its reply. Replies are matched
 * by id; a caller awaiting each call before the next (the room actor's appends) keeps its order.
 * Once the worker has died, every waiting call and every later one fails with `StorageError`.
 *
 * Calls made in one turn of the event loop travel together, as one message, and the worker
 * answers a turn's worth of replies in one message too: a message costs a structured clone
 * and a wake-up of the other thread, the larger part of a short read's cost (one upgrade of a
 * WebSocket makes three reads).
 */
const connect = (worker: Worker) => {
  const pending = new Map<number, Pending>()
  let nextId = 0
  let dead: Error | undefined
  const die = (cause: Error) => {
    dead ??= cause
    for (const [id, call] of pending) {
      pending.delete(id)
      call.resume(Effect.fail(new StorageError({ operation: call.operation, cause })))
    }
  }
  const failCall = (id: number, cause: unknown) => {
    const call = pending.get(id)
    if (call === undefined) return
    pending.delete(id)
    call.resume(Effect.fail(new StorageError({ operation: call.operation, cause })))
  }
  // A call that cannot cross fails alone.
  const send = batcher<Call>(worker, (call, cause) => failCall(call.id, cause))
  worker.on("message", (replies: ReadonlyArray<CallReply> | Reply) => {
    if (!Array.isArray(replies)) return
    for (const reply of replies) {
      const call = pending.get(reply.id)
      if (call === undefined) continue // the caller was interrupted
      pending.delete(reply.id)
      call.resume(
        reply.type === "success"
          ? Effect.succeed(fromWire(reply.value))
          : Effect.fail(decodeFailure(call.operation, reply.failure))
      )
    }
  })
  worker.on("error", (error) => die(error))
  worker.on("messageerror", (error) => die(error))
  worker.on("exit", (code) => die(new Error(`the SQLite worker exited (code ${code})`)))

  const call = (service: string, member: string, args: ReadonlyArray<unknown>) => {
    const operation = `${shortName(service)}.${member}`
    return Effect.callback<unknown, Failure>((resume) => {
      if (dead !== undefined) return resume(Effect.fail(new StorageError({ operation, cause: dead })))
      const id = nextId++
      let wire: Array<unknown>
      try {
        wire = args.map(toWire)
      } catch (cause) {
        return resume(Effect.fail(new StorageError({ operation, cause })))
      }
      pending.set(id, { operation, resume })
      send({ type: "call", id, service, member, args: wire })
      return Effect.sync(() => pending.delete(id))
    })
  }
  return {
    call,
    isDead: () => dead !== undefined,
    /** Alive, and no call of this thread waiting on it. */
    isIdle: () => dead === undefined && pending.size === 0
  }
}

const proxy = (call: ReturnType<typeof connect>["call"], shape: ServiceShape) => {
  const service: Record<string, unknown> = {}
  for (const member of shape.members) {
    service[member.name] =
      member.kind === "function"
        ? (...args: Array<unknown>) => call(shape.key, member.name, args)
        : member.kind === "effect"
          ? Effect.suspend(() => call(shape.key, member.name, []))
          : fromWire("value" in member ? member.value : undefined)
  }
  return service
}

/** Waits for the worker's first word: the services it built, or why it could not open the file. */
const started = (worker: Worker) =>
  Effect.callback<ReadonlyArray<ServiceShape>, StorageError>((resume) => {
    const onMessage = (reply: Reply) => {
      if (reply.type === "ready") done(Effect.succeed(reply.services))
      else if (reply.type === "failed") {
        const failure = decodeFailure("sqlite.open", reply.failure)
        done(
          Effect.fail(
            failure._tag === "StorageError" ? failure : new StorageError({ operation: "sqlite.open", cause: failure })
          )
        )
      }
    }
    const onExit = (code: number) =>
      done(
        Effect.fail(
          new StorageError({ operation: "sqlite.open", cause: new Error(`the SQLite worker exited (code ${code})`) })
        )
      )
    const onError = (cause: Error) => done(Effect.fail(new StorageError({ operation: "sqlite.open", cause })))
    const done = (effect: Effect.Effect<ReadonlyArray<ServiceShape>, StorageError>) => {
      worker.off("message", onMessage).off("exit", onExit).off("error", onError)
      resume(effect)
    }
    worker.on("message", onMessage).on("exit", onExit).on("error", onError)
  })

/** Ends the worker: it closes the database first; a worker that does not answer is terminated. */
const stop = (worker: Worker, isDead: () => boolean) =>
  Effect.callback<void>((resume) => {
    if (isDead()) return resume(Effect.void)
    worker.once("exit", () => resume(Effect.void))
    worker.postMessage({ type: "close" } satisfies Request)
  }).pipe(
    Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.promise(() => worker.terminate()) }),
    Effect.asVoid
  )

const withCallSpan = <A, E>(effect: Effect.Effect<A, E>, operation: string) =>
  Effect.withSpan(effect, `sqlite ${operation}`, {
    kind: "client",
    attributes: { "db.system.name": "sqlite", "db.operation.name": operation },
    captureStackTrace: false
  })

const tracedCall =
  (call: ReturnType<typeof connect>["call"]): ReturnType<typeof connect>["call"] =>
  (service, member, args) =>
    withCallSpan(call(service, member, args), `${shortName(service)}.${member}`)

/**
 * The point reads every request makes (an HTTP request's user with its session; a WebSocket
 * upgrade's, and its room with the user's membership: one joined statement each), and the
 * lookup of a batch's retry keys after a refused write, answered on this thread by a read-only
 * connection of its own. Each is a primary-key lookup of some 15 µs,
 * where a trip to the worker costs a structured clone each way and a wake-up of both threads: a
 * join into a room costs 6% less server CPU this way (BENCHMARKS.md, "SQLite point reads on the
 * server's thread"). `get`, `membership` and `findById` stay for their other callers. WAL lets this
 * connection read while the worker writes, never waiting, and a read sees every write the
 * worker had answered before it began. Everything else, writes and longer reads, goes to the
 * worker.
 */
const readsHere: ReadonlyArray<readonly [key: string, members: ReadonlyArray<string>]> = [
  [Users.key, ["findById", "findWithSession"]],
  [Sessions.key, ["get"]],
  [Rooms.key, ["get", "membership", "getWithMembership"]],
  // A room actor's look-up of its batch's retry keys, once an append was refused for one. One made
  // while the actor's previous write is still in the worker misses that write; the actor asks its
  // memory of what it stored again before it writes (`commit` in `room-actor.ts`).
  [Messages.key, ["findByClientMsgIds"]]
]

/** The services `readsHere` takes its reads from, on a read-only connection to the migrated file. */
const readers = (filename: string) =>
  Layer.mergeAll(
    SqliteUsers,
    SqliteSessions,
    SqliteRooms,
    // A read-only connection appends nothing, so leaves no words pending.
    SqliteMessages.pipe(Layer.provide(PendingWords.none))
  ).pipe(Layer.provide(SqliteDatabase.layer(filename, { readOnly: true })))

/** Replaces the proxies' members named in `readsHere` by the same reads on this thread. */
const readOnThisThread = (
  services: Map<string, Record<string, unknown>>,
  local: Context.Context<never>,
  traced: boolean
) => {
  for (const [key, members] of readsHere) {
    const proxy = services.get(key)
    const here = local.mapUnsafe.get(key) as Record<string, (...args: Array<unknown>) => Effect.Effect<unknown>>
    if (proxy === undefined || here === undefined) continue
    for (const member of members) {
      const read = here[member]!
      proxy[member] = traced
        ? (...args: Array<unknown>) => withCallSpan(read(...args), `${shortName(key)}.${member}`)
        : read
    }
  }
}

type Append = Messages["Service"]["append"]

/**
 * Replaces the proxy's `Messages.append` by one that writes a small batch on this thread while
 * the worker is idle (`appends-here.ts`), and sends the others to the worker, as it does one that
 * finds the write lock held here.
 */
const appendOnThisThread = (
  services: Map<string, Record<string, unknown>>,
  here: Messages["Service"],
  isIdle: () => boolean,
  traced: boolean
) => {
  const proxy = services.get(Messages.key)
  if (proxy === undefined) return
  const viaWorker = proxy.append as Append
  const onThisThread: Append = traced
    ? (roomId, messages, fence) => withCallSpan(here.append(roomId, messages, fence), "Messages.append")
    : here.append
  const append: Append = (roomId, messages, fence) =>
    Effect.suspend(() =>
      smallEnoughHere(messages) && isIdle()
        ? onThisThread(roomId, messages, fence).pipe(
            Effect.catchIf(
              (error) => error._tag === "StorageError" && isBusy(error),
              () => viaWorker(roomId, messages, fence)
            )
          )
        : viaWorker(roomId, messages, fence)
    )
  proxy.append = append
}

/**
 * The services of the worker started from `entry` (tests start a fake one that misbehaves, or
 * leave the checkpointer out to see what the writer does alone).
 */
export const layerThread = (
  entry: URL,
  filename: string,
  { checkpointer = true }: { readonly checkpointer?: boolean } = {}
): Layer.Layer<Services, StorageError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const onDisk = filename !== ":memory:"
      const options: SqliteOptions = { checkpointedElsewhere: onDisk }
      const worker = new Worker(entry, { workerData: { filename, options } })
      const connection = connect(worker)
      const shapes = yield* started(worker).pipe(Effect.onError(() => Effect.promise(() => worker.terminate())))
      yield* Effect.addFinalizer(() => stop(worker, connection.isDead))
      // Once the worker has opened (and migrated) the file, and closed before it is.
      if (onDisk && checkpointer) yield* checkpointInBackground(filename)
      // When spans are exported (a tracer other than Effect's default), each call is a span
      // named by its operation; otherwise none is made at all.
      const traced = (yield* Effect.service(Tracer.Tracer)) !== Tracer.nativeTracer
      const call = traced ? tracedCall(connection.call) : connection.call
      const services = new Map(shapes.map((shape) => [shape.key, proxy(call, shape)]))
      // A file the worker has opened and migrated (`:memory:` is the worker's alone). Closed
      // before the worker is (finalizers run last added first), so the WAL goes with it.
      if (onDisk) {
        readOnThisThread(services, yield* Layer.build(readers(filename)), traced)
        // Only a worker that indexes the words left pending here may have appends written here.
        const workerIndex = (services.get(PendingWords.key) as PendingWords["Service"] | undefined)?.index
        if (workerIndex !== undefined) {
          const here = Context.get(yield* Layer.build(appendsHere(filename, workerIndex)), Messages)
          appendOnThisThread(services, here, connection.isIdle, traced)
        }
      }
      return Context.makeUnsafe<Services>(services)
    })
  )

/** Every storage service on one SQLite file, the connection owned by a worker thread. */
export const layerWorker = (filename: string) => layerThread(new URL("./worker.ts", import.meta.url), filename)
