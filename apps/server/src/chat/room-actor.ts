/**
 * The per-room actor: one fiber per active room, fed by a bounded mailbox. It is the only
 * writer of its room on this node, so it alone assigns `seq` and message ids, and it does
 * the three steps of a send strictly in order: store, then broadcast, then acknowledge.
 *
 * Group commit: when senders outpace storage, the actor takes everything waiting in its
 * mailbox (up to `maxBatch`) and stores it in one write to the room's partition. Order is
 * mailbox order; nothing is acknowledged until the write that holds it succeeded.
 *
 * Fencing: an actor claims its room in storage before its first write (`Messages.claim`
 * bumps the room's owner epoch) and every write carries that epoch and the `seq` it
 * continues from, so storage refuses it if another actor (on any node) claimed the room
 * since, or if the head moved. Deposed, the actor stops and refuses what waits; it does not
 * claim again, which would take the room back from its new owner. A later send to this node
 * starts a new actor, which does claim: the cluster sends there only while this node holds
 * the room's shard.
 */
import {
  type MessageId,
  type MessageView,
  makeTimeUuidClock,
  Overloaded,
  type RoomId,
  ServiceUnavailable,
  type UserId
} from "@parley/domain"
import {
  type ClientMsgIdStored,
  clientMsgKeyName,
  type MessageRecord,
  Messages,
  plainMessage,
  type StaleWrite,
  type StorageError
} from "@parley/storage"
import {
  Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberSet,
  Layer,
  Metric,
  Option,
  Queue,
  type Tracer
} from "effect"
import { callerSpan, servingMany, tracingOn } from "../observability/spans.ts"
import { Broker } from "../realtime/broker.ts"
import { toMessageView } from "../views/chat.ts"
import { type Change, type ChangeRefused, changed, heldMessages, refusal } from "./message-changes.ts"

export interface SendRequest {
  readonly roomId: RoomId
  readonly userId: UserId
  readonly username: string
  /** The message's text; an edit's new text; "" for a delete. */
  readonly text: string
  readonly clientMsgId: string | null
  /** An edit or delete of an earlier message instead of a message: checked by the actor. */
  readonly change?: Change | undefined
}

/**
 * The server's bound on one write's bytes. On Cassandra the rows go in one single-partition
 * batch, which `batch_size_fail_threshold` (50 KiB) does not apply to; the bound keeps one Paxos
 * round (and one request) from carrying megabytes of 4,000-character texts. 128 KiB holds a full
 * batch (`ROOM_MAX_BATCH`, 128) of sends costing up to 1 KiB each: at 40 KiB, 128 sends of 200-byte
 * texts went out as two writes, each paying its own Paxos round (BENCHMARKS.md, issue 10).
 */
export const defaultMaxBatchBytes = 128 * 1024

export interface RoomActorOptions {
  /** Sends waiting per room beyond which new ones are refused with `overloaded`. */
  readonly mailboxCapacity: number
  /** The most messages stored in one write. */
  readonly maxBatch: number
  /** The most bytes (estimated, see `writeCost`) in one write: `defaultMaxBatchBytes` unless configured. */
  readonly maxBatchBytes: number
  /** An actor with nothing to do for this long stops; the next send starts a new one. */
  readonly idleTimeout: Duration.Duration
}

/**
 * Called once with a send's outcome: the stored message, or why it was refused. Called in the
 * actor's fiber, so it must be quick and must not throw; a WebSocket ack is a callback, not a
 * fiber waiting per send (about 4 µs of CPU each at thousands of sends a second).
 */
export type SendReply<E> = (exit: Exit.Exit<MessageView, E>) => void

/**
 * Calls `reply`; one that throws (a bug of the caller's) is logged through `runFork`, so that
 * whoever answers a batch goes on answering the rest of it.
 */
export const replyGuarded = <E>(
  reply: SendReply<E>,
  exit: Exit.Exit<MessageView, E>,
  runFork: (effect: Effect.Effect<void>) => unknown
) => {
  try {
    reply(exit)
  } catch (defect) {
    runFork(Effect.logError("answering a send failed", defect))
  }
}

/** A `submit` made of a `submitWith`: the returned effect waits for the reply. */
export const awaitingReply =
  <Request, E1, E2>(submitWith: (request: Request, reply: SendReply<E2>) => Effect.Effect<void, E1>) =>
  (request: Request): Effect.Effect<Effect.Effect<MessageView, E2>, E1> =>
    Effect.suspend(() => {
      const reply = Deferred.makeUnsafe<MessageView, E2>()
      return Effect.as(
        submitWith(request, (exit) => Deferred.doneUnsafe(reply, exit)),
        Deferred.await(reply)
      )
    })

interface Command {
  readonly request: SendRequest
  readonly reply: SendReply<ServiceUnavailable | ChangeRefused>
  /** Set by the first answer: a batch refused on its way out may be answered again, in vain. */
  answered: boolean
  /** The sender's span (a WebSocket frame, an HTTP request, a forward), when spans are exported. */
  readonly span: Tracer.AnySpan | undefined
}

const submitted = Metric.counter("parley_messages_submitted_total", {
  description: "sends taken into a room mailbox; minus stored, what waits for a write"
})
const stored = Metric.counter("parley_messages_stored_total", { description: "messages stored by room actors" })
const refused = Metric.counter("parley_messages_overloaded_total", {
  description: "sends refused because a room's mailbox was full"
})
const batchSize = Metric.histogram("parley_room_batch_size", {
  description: "messages per group commit",
  boundaries: [1, 2, 4, 8, 16, 32, 64, 128, 256]
})

/**
 * A message view is already in wire shape: its encoded form has the same fields, all plain
 * strings, numbers and nulls, so the broker carries the view itself rather than an encoded copy
 * (a Schema pass per message on the way to the broadcast). Should a field ever transform (a
 * date, say), the view stops type-checking as `Encoded` here, and needs encoding again.
 */
const asWire = (view: MessageView): typeof MessageView.Encoded => view

/**
 * What a send adds to a write: its row (text, name, client id and about 200 bytes of keys and
 * overhead). Once: Cassandra's client-id entries hold no text and are batched by storage.
 */
const writeCost = ({ request }: Command) =>
  Buffer.byteLength(request.text) +
  request.username.length +
  (request.clientMsgId === null ? 0 : Buffer.byteLength(request.clientMsgId)) +
  200

/** Splits a mailbox batch into writes under `maxBytes`, keeping order; each holds at least one send. */
export const splitByBytes = <A>(items: ReadonlyArray<A>, cost: (a: A) => number, maxBytes: number) => {
  const chunks: Array<Array<A>> = []
  let bytes = Infinity
  for (const item of items) {
    const c = cost(item)
    if (bytes + c > maxBytes) {
      chunks.push([])
      bytes = 0
    }
    chunks[chunks.length - 1]!.push(item)
    bytes += c
  }
  return chunks
}
/** How many recent client_msg_ids an actor remembers, to answer retries without a read. */
const recentIdsKept = 1024

export class RoomActors extends Context.Service<
  RoomActors,
  {
    /**
     * Puts the send in the room's mailbox now, in call order, and returns the wait for its
     * stored message: callers that pipeline sends keep their order without waiting for each ack.
     */
    readonly submit: (
      request: SendRequest
    ) => Effect.Effect<Effect.Effect<MessageView, ServiceUnavailable | ChangeRefused>, Overloaded>
    /** `submit`, answered through `reply` (once, from the actor's fiber) instead of an effect to wait on. */
    readonly submitWith: (
      request: SendRequest,
      reply: SendReply<ServiceUnavailable | ChangeRefused>
    ) => Effect.Effect<void, Overloaded>
    /**
     * Stores, broadcasts and returns the message (or edit, or delete: refused with
     * `ChangeRefused` by the rules of `message-changes.ts`); a retried `clientMsgId` returns the original.
     */
    readonly send: (request: SendRequest) => Effect.Effect<MessageView, Overloaded | ServiceUnavailable | ChangeRefused>
    /**
     * The room may have been written by another node since this one last did (its cluster
     * shard moved away and back): the next write claims the room first, which also fences
     * off any writer that held it meanwhile.
     */
    readonly forget: (roomId: RoomId) => Effect.Effect<void>
    /**
     * This node no longer owns the room (its cluster shard moved): sends still waiting are
     * refused (`service_unavailable`, so clients retry at the new owner) and the actor stops.
     */
    readonly retire: (roomId: RoomId) => Effect.Effect<void>
    /** Rooms with a running actor on this node. */
    readonly active: Effect.Effect<number>
  }
>()("parley/server/chat/RoomActors") {
  static readonly layer = (options: RoomActorOptions) =>
    Layer.effect(
      RoomActors,
      Effect.gen(function* () {
        const messages = yield* Messages
        const broker = yield* Broker
        const runFork = yield* FiberSet.makeRuntime()
        const traced = yield* tracingOn
        const mailboxes = new Map<RoomId, Queue.Queue<Command>>()
        const stale = new Set<RoomId>()
        /** Answers a send once; a reply that throws (a bug of its caller) fails no batch. */
        const answer = (command: Command, exit: Exit.Exit<MessageView, ServiceUnavailable | ChangeRefused>) => {
          if (command.answered) return
          command.answered = true
          replyGuarded(command.reply, exit, runFork)
        }
        const failAll = (batch: Iterable<Command>) => {
          for (const command of batch) answer(command, Exit.fail(new ServiceUnavailable()))
        }
        /** Refuses everything still waiting and closes the mailbox to new sends. */
        const closeMailbox = (mailbox: Queue.Queue<Command>) => {
          for (let c = Queue.takeUnsafe(mailbox); c !== undefined && Exit.isSuccess(c); c = Queue.takeUnsafe(mailbox)) {
            failAll([c.value])
          }
          Queue.shutdownUnsafe(mailbox)
        }

        const actor = (roomId: RoomId, mailbox: Queue.Queue<Command>) => {
          /** The write being prepared or committed, and the writes taken after it: failed if the actor stops. */
          let current: ReadonlyArray<Command> = []
          let taken: Array<ReadonlyArray<Command>> = []
          /**
           * This actor's claim on the room (0 before its first): storage refuses its writes once
           * another claims, and it is released when the actor stops.
           */
          let epoch = 0
          return Effect.gen(function* () {
            const clock = makeTimeUuidClock()
            const recent = new Map<string, MessageView>()
            const held = heldMessages()
            let lastSeq = 0
            // False until the room is claimed, and again after a failed write, whose outcome
            // may be unknown: the next batch claims again and continues from what storage says.
            let synced = false
            /**
             * Bumped by every claim and every failed write: a lookup made in an earlier
             * generation may have missed what a claim repaired or a failed write landed.
             */
            let generation = 0

            const remember = (view: MessageView) => {
              if (view.client_msg_id === null) return
              recent.set(`${view.user_id}/${view.client_msg_id}`, view)
              if (recent.size > recentIdsKept) recent.delete(recent.keys().next().value!)
            }

            /**
             * Takes the room over and returns what the claim repaired: a batch committed by an
             * owner that died before writing its rows, never broadcast, so it goes out now.
             */
            const claim = Effect.gen(function* () {
              const head = yield* messages.claim(roomId)
              epoch = head.epoch
              lastSeq = head.lastSeq
              if (head.lastId !== null) clock.advancePast(head.lastId)
              held.clear()
              synced = true
              generation++
              return head.repaired.map(toMessageView)
            })

            const keyOf = ({ request }: Command) =>
              request.clientMsgId === null
                ? null
                : clientMsgKeyName({ userId: request.userId, clientMsgId: request.clientMsgId })

            /** A retried send's original: `stored` if only storage knew it (so maybe never broadcast). */
            interface Original {
              readonly view: MessageView
              readonly stored: boolean
            }
            /** Sends looked up in one generation, and what was found for each. */
            interface Looked {
              readonly generation: number
              readonly originals: ReadonlyMap<Command, Option.Option<Original>>
            }

            /**
             * The stored originals of a batch's retries, from memory or storage, all at once:
             * storage may answer the whole batch's lookups in one round trip. It may run while
             * the previous write commits; `commit` then checks memory again for what it missed.
             * Storage that refuses an append holding a stored key is not asked (`unread`): a key
             * not in memory is taken for new, and read only if the append is refused
             * (`commitChecked`). On SQLite that read cost a send 0.34-0.43 ms of the server's
             * thread when sends are sparse, and a new key is the common case.
             */
            const lookup = (
              batch: ReadonlyArray<Command>,
              unread = messages.refusesStoredClientMsgIds
            ): Effect.Effect<Looked, StorageError> => {
              const asOf = generation
              const originals = new Map<Command, Option.Option<Original>>()
              const unknown: Array<readonly [Command, string]> = []
              for (const command of batch) {
                const key = keyOf(command)
                const cached = key === null ? undefined : recent.get(key)
                if (key === null) originals.set(command, Option.none())
                else if (cached !== undefined) originals.set(command, Option.some({ view: cached, stored: false }))
                else unknown.push([command, key])
              }
              if (unread) for (const [command] of unknown) originals.set(command, Option.none())
              if (unknown.length === 0 || unread) return Effect.succeed({ generation: asOf, originals })
              const keys = unknown.map(([{ request }]) => ({
                userId: request.userId,
                clientMsgId: request.clientMsgId!
              }))
              return Effect.map(messages.findByClientMsgIds(roomId, keys), (found) => {
                const byKey = new Map(
                  found.map((record) => [
                    clientMsgKeyName({ userId: record.userId, clientMsgId: record.clientMsgId! }),
                    record
                  ])
                )
                for (const [command, key] of unknown) {
                  const record = byKey.get(key)
                  originals.set(
                    command,
                    record === undefined ? Option.none() : Option.some({ view: toMessageView(record), stored: true })
                  )
                }
                return { generation: asOf, originals }
              })
            }

            /**
             * A batch's work in a span of its own: a child of its first send's span, linked to
             * every other send's (a group commit serves them all).
             */
            const inSpan = <A, E>(name: string, batch: ReadonlyArray<Command>, effect: Effect.Effect<A, E>) =>
              Effect.withSpan(
                effect,
                name,
                servingMany(
                  batch.map((c) => c.span),
                  { room_id: roomId, "room.batch.messages": batch.length }
                )
              )

            const merge = (a: Looked, b: Looked): Looked => ({
              generation: Math.min(a.generation, b.generation),
              originals: new Map([...a.originals, ...b.originals])
            })

            /** Claims if needed, then looks the batch's retries up; what `ahead` holds is used if still valid. */
            const prepare = (batch: ReadonlyArray<Command>, ahead: Looked | undefined) =>
              Effect.gen(function* () {
                if (stale.delete(roomId)) synced = false
                const repaired: Array<MessageView> = synced ? [] : yield* claim
                repaired.forEach(remember)
                const valid = ahead !== undefined && ahead.generation === generation ? ahead : undefined
                const missing = batch.filter((command) => valid?.originals.has(command) !== true)
                const looked =
                  valid !== undefined && missing.length === 0
                    ? valid
                    : valid === undefined || missing.length === batch.length
                      ? yield* lookup(batch)
                      : merge(valid, yield* lookup(missing))
                return { repaired, looked }
              })

            /**
             * The batch's new sends as records, in order. An edit or delete is checked against
             * its target as this actor holds it (stored or changed by it, or earlier in this
             * batch), else as storage has it (read now, for edits and deletes only): refused,
             * it takes no `seq`. `targets` holds every message the batch adds or changes, as it
             * will stand once stored.
             */
            const entries = (fresh: ReadonlyArray<Command>, now: number) =>
              Effect.gen(function* () {
                const unknown = new Set<MessageId>()
                for (const c of fresh) {
                  const target = c.request.change?.targetId
                  if (target !== undefined && held.get(target) === undefined) unknown.add(target)
                }
                const found = new Map<MessageId, MessageRecord>()
                yield* Effect.forEach(
                  unknown,
                  (id) =>
                    Effect.map(messages.find(roomId, id), (m) => {
                      if (Option.isSome(m)) found.set(id, m.value)
                    }),
                  { concurrency: "unbounded", discard: true }
                )
                const targets = new Map<MessageId, MessageRecord>()
                const accepted: Array<Command> = []
                const records: Array<MessageRecord> = []
                const refused = new Map<Command, ChangeRefused>()
                for (const c of fresh) {
                  const { change } = c.request
                  const target =
                    change === undefined
                      ? undefined
                      : (targets.get(change.targetId) ?? held.get(change.targetId) ?? found.get(change.targetId))
                  if (change !== undefined) {
                    const refuse = refusal(target, c.request.userId, change)
                    if (refuse !== undefined) {
                      refused.set(c, refuse)
                      continue
                    }
                  }
                  const record: MessageRecord = {
                    roomId,
                    id: clock.next(now) as MessageId,
                    seq: lastSeq + 1 + records.length,
                    userId: c.request.userId,
                    username: c.request.username,
                    text: change?.kind === "delete" ? "" : c.request.text,
                    clientMsgId: c.request.clientMsgId,
                    createdAt: now,
                    ...plainMessage,
                    ...(change === undefined
                      ? {}
                      : { kind: change.kind, targetId: change.targetId, targetPartition: target!.partition })
                  }
                  accepted.push(c)
                  records.push(record)
                  // The entry itself too: a change of an edit or delete entry is refused without a read.
                  targets.set(record.id, record)
                  if (change !== undefined) targets.set(change.targetId, changed(target!, record))
                }
                return { accepted, records, targets, refused }
              })

            /** Stores the batch's new sends in one write, then broadcasts, then answers every send. */
            const commit = (
              batch: ReadonlyArray<Command>,
              { repaired, looked }: { readonly repaired: ReadonlyArray<MessageView>; readonly looked: Looked }
            ): Effect.Effect<void, StorageError | StaleWrite | ClientMsgIdStored> =>
              Effect.gen(function* () {
                // One found only in storage may come from a write that timed out yet landed, and
                // so was never broadcast: it goes out again with this batch (subscribers drop
                // what they have). Memory is asked again first: the lookup may have run while
                // the previous write, holding this retry's first attempt, was committing.
                const rebroadcast: Array<MessageView> = [...repaired]
                const originals = batch.map((command) => {
                  const key = keyOf(command)
                  if (key === null) return undefined
                  const cached = recent.get(key)
                  if (cached !== undefined) return cached
                  const found = Option.getOrUndefined(looked.originals.get(command) ?? Option.none())
                  if (found?.stored === true) rebroadcast.push(found.view)
                  return found?.view
                })
                // A retry can land in the same batch as its first attempt: only the first is stored.
                const firstOfKey = new Map<string, Command>()
                const fresh = batch.filter((command, i) => {
                  if (originals[i] !== undefined) return false
                  const key = keyOf(command)
                  if (key === null) return true
                  if (firstOfKey.has(key)) return false
                  firstOfKey.set(key, command)
                  return true
                })
                const now = yield* Clock.currentTimeMillis
                const { accepted, records, targets, refused } = yield* entries(fresh, now)
                if (records.length > 0) {
                  yield* messages.append(roomId, records, { epoch, afterSeq: lastSeq })
                  lastSeq += records.length
                  held.keep(targets.values())
                  yield* Metric.update(stored, records.length)
                  yield* Metric.update(batchSize, records.length)
                }
                const views = records.map(toMessageView)
                views.forEach(remember)
                rebroadcast.forEach(remember)
                const broadcast = [...rebroadcast, ...views].sort((a, b) => a.seq - b.seq)
                if (broadcast.length > 0) {
                  // Stored is what matters for the ack; a lost broadcast shows up as a `seq` gap
                  // downstream and is backfilled from storage. A publish never hangs (`Broker`).
                  yield* Effect.suspend(() =>
                    broker.publish(roomId, { kind: "messages", messages: broadcast.map(asWire) })
                  ).pipe(Effect.catchCause((cause) => Effect.logWarning("broadcast failed", cause)))
                }
                const outcomes = new Map<Command, Exit.Exit<MessageView, ChangeRefused>>([
                  ...accepted.map((c, i) => [c, Exit.succeed(views[i]!)] as const),
                  ...[...refused].map(([c, e]) => [c, Exit.fail(e)] as const)
                ])
                batch.forEach((command, i) => {
                  const key = keyOf(command)
                  const original = originals[i]
                  answer(
                    command,
                    original !== undefined ? Exit.succeed(original) : outcomes.get(firstOfKey.get(key!) ?? command)!
                  )
                })
              })

            /**
             * `commit`, where keys were taken for new unread (`lookup`) and storage refused one as
             * stored: they are read now and the batch is committed again. The refused append stored
             * nothing, and nothing of the actor changed but its id clock, which only moves on.
             */
            const commitChecked = (batch: ReadonlyArray<Command>, prepared: Parameters<typeof commit>[1]) =>
              commit(batch, prepared).pipe(
                Effect.catchTag("ClientMsgIdStored", () =>
                  Effect.flatMap(lookup(batch, false), (looked) => commit(batch, { ...prepared, looked }))
                )
              )

            /** Whether the actor was deposed; any other failure refuses the batch and the actor goes on. */
            const settleFailure =
              (batch: ReadonlyArray<Command>) =>
              (cause: Cause.Cause<StorageError | StaleWrite | ClientMsgIdStored>) => {
                const error = Cause.findErrorOption(cause)
                const isDeposed =
                  Option.isSome(error) && error.value._tag === "StaleWrite" && error.value.reason === "deposed"
                // Whatever failed, the write may have landed: claim and re-read the head first,
                // and look again what was looked up meanwhile.
                synced = false
                generation++
                failAll(batch)
                return Effect.as(
                  (isDeposed
                    ? Effect.logWarning("another node claimed the room; this actor stops", cause)
                    : Effect.logError("room write failed; nothing in the batch was acknowledged", cause)
                  ).pipe(Effect.annotateLogs({ room_id: roomId, batch: batch.length })),
                  isDeposed
                )
              }

            /**
             * While a write commits, looks the next batch's retries up, so that the lookup
             * overlaps the commit: what is split off already, else everything that reaches the
             * mailbox before the write ends (up to `maxBatch`), taken and looked up as it comes,
             * so the next write holds all of it rather than only what came first. A failed
             * lookup is simply done again at `prepare`.
             */
            const lookAhead = (committed: Deferred.Deferred<void>, prior: Looked | undefined) =>
              Effect.gen(function* () {
                const usable = () => synced && !stale.has(roomId)
                if (taken.length > 0) {
                  const next = taken[0]!
                  if (!usable()) return undefined
                  if (prior !== undefined && next.every((c) => prior.originals.has(c))) return prior
                  return Option.getOrUndefined(yield* Effect.option(lookup(next)))
                }
                const gathered: Array<Command> = []
                let looked: Looked | undefined
                let complete = true
                while (gathered.length < options.maxBatch) {
                  const ready = yield* Effect.raceFirst(
                    Effect.as(Effect.exit(Queue.peek(mailbox)), true),
                    Effect.as(Deferred.await(committed), false)
                  )
                  if (!ready || Queue.sizeUnsafe(mailbox) === 0) break
                  const next = yield* Queue.takeBetween(mailbox, 1, options.maxBatch - gathered.length)
                  gathered.push(...next)
                  taken = splitByBytes(gathered, writeCost, options.maxBatchBytes)
                  if (!complete || !usable()) {
                    complete = false
                    continue
                  }
                  const more = Option.getOrUndefined(yield* Effect.option(lookup(next)))
                  if (more === undefined || (looked !== undefined && more.generation !== looked.generation)) {
                    complete = false
                    continue
                  }
                  looked = looked === undefined ? more : merge(looked, more)
                }
                return looked
              })

            /** Since when the actor has waited on an empty mailbox (epoch ms), or `undefined` while it works. */
            let waitingSince: number | undefined
            /**
             * Retires the actor once its mailbox has stayed empty for `idleTimeout`: one sleeping
             * fiber for the actor's life, where a timeout on every take would race two fibers per
             * batch. Checked and shut in one synchronous step, so no send can slip into a mailbox
             * that nobody will read; the take waiting on it then ends.
             */
            const idleWatch = Effect.gen(function* () {
              const idleMs = Duration.toMillis(options.idleTimeout)
              for (;;) {
                const quiet = waitingSince === undefined ? 0 : (yield* Clock.currentTimeMillis) - waitingSince
                if (waitingSince !== undefined && quiet >= idleMs && Queue.sizeUnsafe(mailbox) === 0) {
                  if (mailboxes.get(roomId) === mailbox) mailboxes.delete(roomId)
                  Queue.shutdownUnsafe(mailbox)
                  return
                }
                yield* Effect.sleep(Duration.millis(idleMs - quiet))
              }
            })
            yield* Effect.forkChild(idleWatch)

            let ahead: Looked | undefined
            for (;;) {
              if (taken.length === 0) {
                waitingSince = yield* Clock.currentTimeMillis
                const next = yield* Effect.exit(Queue.takeBetween(mailbox, 1, options.maxBatch))
                waitingSince = undefined
                // Shut by `idleWatch`.
                if (Exit.isFailure(next)) return
                taken = splitByBytes(next.value, writeCost, options.maxBatchBytes)
              }
              const batch = taken.shift()!
              current = batch
              const prepared = yield* Effect.exit(
                traced ? inSpan("room.prepare", batch, prepare(batch, ahead)) : prepare(batch, ahead)
              )
              ahead = undefined
              let deposed: boolean
              if (Exit.isFailure(prepared)) {
                deposed = yield* settleFailure(batch)(prepared.cause)
              } else {
                const committed = Deferred.makeUnsafe<void>()
                // Started at once: a write that never waits (SQLite on this thread) is done before
                // this returns. Nothing can have reached the mailbox meanwhile, so there is nothing
                // to look ahead for, and no fiber to race: the next turn takes what waits.
                const writer = yield* Effect.forkChild(
                  (traced
                    ? inSpan("room.commit", batch, commitChecked(batch, prepared.value))
                    : commitChecked(batch, prepared.value)
                  ).pipe(
                    Effect.as(false),
                    Effect.catchCause(settleFailure(batch)),
                    Effect.ensuring(Deferred.done(committed, Exit.void))
                  ),
                  { startImmediately: true }
                )
                const written = writer.pollUnsafe()
                if (written !== undefined) {
                  deposed = yield* written
                } else {
                  // Traced, the next batch's lookups are shown under the write they overlap.
                  ahead = yield* traced
                    ? inSpan("room.lookahead", batch, lookAhead(committed, prepared.value.looked))
                    : lookAhead(committed, prepared.value.looked)
                  deposed = yield* Fiber.join(writer)
                }
              }
              // Deposed: what was taken and the mailbox are refused by `onExit`.
              if (deposed) return
              current = []
            }
          }).pipe(
            Effect.onExit(() =>
              Effect.sync(() => {
                if (mailboxes.get(roomId) === mailbox) mailboxes.delete(roomId)
                failAll(current)
                failAll(taken.flat())
                closeMailbox(mailbox)
              }).pipe(Effect.andThen(epoch === 0 ? Effect.void : messages.release(roomId, epoch)))
            ),
            Effect.annotateLogs({ room_id: roomId })
          )
        }

        /** Hands the command to the room's actor, starting one if none runs. Synchronous. */
        const enqueue = (command: Command): boolean => {
          const { roomId } = command.request
          const existing = mailboxes.get(roomId)
          if (existing !== undefined) return Queue.offerUnsafe(existing, command)
          const mailbox = Effect.runSync(Queue.bounded<Command>(options.mailboxCapacity))
          mailboxes.set(roomId, mailbox)
          Queue.offerUnsafe(mailbox, command)
          runFork(actor(roomId, mailbox))
          return true
        }

        const offer = (
          request: SendRequest,
          reply: SendReply<ServiceUnavailable | ChangeRefused>,
          span: Tracer.AnySpan | undefined
        ) =>
          enqueue({ request, reply, answered: false, span })
            ? Metric.update(submitted, 1)
            : Effect.andThen(Metric.update(refused, 1), Effect.fail(new Overloaded()))
        // Traced, the sender's span goes with the send, for the write that serves it.
        const submitWith = traced
          ? (request: SendRequest, reply: SendReply<ServiceUnavailable | ChangeRefused>) =>
              Effect.flatMap(callerSpan, (span) => offer(request, reply, span))
          : (request: SendRequest, reply: SendReply<ServiceUnavailable | ChangeRefused>) =>
              Effect.suspend(() => offer(request, reply, undefined))
        const submit = awaitingReply(submitWith)

        return RoomActors.of({
          submit,
          submitWith,
          send: (request) => Effect.flatten(submit(request)),
          retire: (roomId) =>
            Effect.sync(() => {
              const mailbox = mailboxes.get(roomId)
              if (mailbox === undefined) return
              mailboxes.delete(roomId)
              closeMailbox(mailbox)
            }),
          forget: (roomId) =>
            Effect.sync(() => {
              if (mailboxes.has(roomId)) stale.add(roomId)
            }),
          active: Effect.sync(() => mailboxes.size)
        })
      })
    )
}
