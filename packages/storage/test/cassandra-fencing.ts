/**
 * A Cassandra append cut apart on the real node. Since 005 the head and the rows are one
 * conditional batch (the commit); what can still be cut off is what goes beside or after it:
 * a driver that fails the client ids and the new partition's index row after the commit
 * applied (a crash right after it), that reports a timeout for a commit that applied, and one
 * that holds a commit back and sends it only after the room moved on (a write that lands late).
 */
import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock, type RoomId, timeUuidMs } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Cause, Context, Duration, Effect, Exit, Layer, Option } from "effect"
import * as TestClock from "effect/testing/TestClock"
import {
  CassandraClient,
  type CassandraConfig,
  type Driver,
  silentRequestsToTrip,
  uuid
} from "../src/cassandra/client.ts"
import { clientIdShard } from "../src/cassandra/client-ids.ts"
import { messageColumns, messageValues } from "../src/cassandra/message-rows.ts"
import { CassandraMessages } from "../src/cassandra/messages.ts"
import type { LeaseOptions } from "../src/cassandra/room-head.ts"
import { CassandraRooms } from "../src/cassandra/rooms.ts"
import { type MessageRecord, Messages, plainMessage, Rooms, StorageError } from "../src/index.ts"
import { newRoom, newUserId, testMessageBucketMs, unique } from "./fixtures.ts"

interface Hooks {
  /** Replaces the next commit (the conditional batch): gets the real one, returns what the append sees. */
  head?: (
    real: Effect.Effect<cassandra.types.ResultSet, StorageError>
  ) => Effect.Effect<cassandra.types.ResultSet, StorageError>
  /** Fails every write that completes a commit (client ids, index row), as if the node died after it. */
  failRows?: boolean
  /** Runs once right after the next claim's LWT, before the claim writes anything else. */
  afterClaim?: Effect.Effect<void>
  /** When set, every request's operation name is added to it, in order. */
  seen?: Array<string>
  /** Unguarded requests of these operations are answered this many ms late. */
  late?: Record<string, number>
}

const timedOut = (operation: string) =>
  new StorageError({ operation, cause: new cassandra.errors.OperationTimedOutError("test: no answer in time") })

/** Cassandra's `Messages` on the real client, through a driver the test steers. */
const hookedMessages = (hooks: Hooks, leases?: LeaseOptions) =>
  Effect.gen(function* () {
    const real = yield* CassandraClient
    const afterCommit = ["messages.append.clientIds", "messages.append.index"]
    const hooked = CassandraClient.of({
      ...real,
      execute: (operation, query, params, options) => {
        hooks.seen?.push(operation)
        const after = hooks.afterClaim
        if (operation !== "messages.claim" || after === undefined)
          return real.execute(operation, query, params, options)
        delete hooks.afterClaim
        return Effect.tap(real.execute(operation, query, params, options), () => after)
      },
      batch: (operation, queries, options) => {
        hooks.seen?.push(operation)
        const run = real.batch(operation, queries, options)
        const head = hooks.head
        if (operation !== "messages.append.commit" || head === undefined) return run
        delete hooks.head
        return head(run)
      },
      batchUnguarded: (operation, queries, options) => {
        hooks.seen?.push(operation)
        return afterCommit.includes(operation) && hooks.failRows === true
          ? Effect.fail(timedOut(operation))
          : real.batchUnguarded(operation, queries, options)
      },
      executeUnguarded: (operation, query, params, options) => {
        hooks.seen?.push(operation)
        if (afterCommit.includes(operation) && hooks.failRows === true) return Effect.fail(timedOut(operation))
        const late = hooks.late?.[operation]
        const run = real.executeUnguarded(operation, query, params, options)
        return late === undefined ? run : Effect.tap(run, () => pause(late))
      }
    })
    return yield* messagesOn(hooked, leases)
  })

const messagesOn = (client: CassandraClient["Service"], leases?: LeaseOptions) =>
  Effect.map(
    Layer.build(
      CassandraMessages(testMessageBucketMs, leases).pipe(Layer.provide(Layer.succeed(CassandraClient, client)))
    ),
    (context) => Context.get(context, Messages)
  )

/**
 * A client on its own driver connection whose answers the test withholds: a withheld request
 * still reaches Cassandra, only its answer never comes, so it times out below the breaker.
 * The breaker stays open for the rest of the test once it trips.
 */
const silencingClient = (settings: Effect.Effect<CassandraConfig>, silent: (query: string) => boolean) =>
  Effect.gen(function* () {
    const config = { ...(yield* settings), requestTimeout: Duration.seconds(4), retryAfter: Duration.minutes(10) }
    const driver = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const client = new cassandra.Client({
          contactPoints: [...config.contactPoints],
          localDataCenter: config.localDataCenter,
          keyspace: config.keyspace
        })
        await client.connect()
        return client
      }),
      (client) => Effect.promise(() => client.shutdown())
    )
    const steered: Driver = {
      execute: ((query: string, params: Array<unknown>, options: cassandra.QueryOptions) => {
        const sent = driver.execute(query, params, options)
        return silent(query) ? new Promise(() => {}) : sent
      }) as Driver["execute"],
      batch: ((queries: Array<{ query: string }>, options: cassandra.QueryOptions) => {
        const sent = driver.batch(queries, options)
        return silent(queries[0]!.query) ? new Promise(() => {}) : sent
      }) as Driver["batch"]
    }
    return yield* CassandraClient.make(steered, config)
  })

const batch = (roomId: RoomId, afterSeq: number, count: number): Array<MessageRecord> => {
  const clock = makeTimeUuidClock()
  const userId = newUserId()
  return Array.from({ length: count }, (_, i) => ({
    roomId,
    id: clock.next(Date.now() + (afterSeq + i) * testMessageBucketMs) as MessageId,
    seq: afterSeq + 1 + i,
    userId,
    username: "cass",
    text: `m${afterSeq + 1 + i}`,
    clientMsgId: unique("k-"),
    createdAt: Date.now(),
    ...plainMessage
  }))
}

/** The next messages after `last`, in its millisecond: they go into its partition. */
const following = (last: MessageRecord, count: number): Array<MessageRecord> => {
  const clock = makeTimeUuidClock()
  clock.advancePast(last.id)
  return Array.from({ length: count }, (_, i) => ({
    ...last,
    id: clock.next(timeUuidMs(last.id)) as MessageId,
    seq: last.seq + 1 + i,
    text: `m${last.seq + 1 + i}`,
    clientMsgId: unique("k-")
  }))
}

/** Short enough that a test waits it out in well under a second. */
const shortLease: LeaseOptions = { lease: 300, skew: 50 }

const history = (messages: Messages["Service"], roomId: RoomId) =>
  messages.listAfter(roomId, { after: null, limit: 100 })

/** A room claimed through `hooks` with its first message stored: a partition holding its head. */
const openedRoom = (hooks: Hooks, leases: LeaseOptions) =>
  Effect.gen(function* () {
    const messages = yield* hookedMessages(hooks, leases)
    const roomId = newRoom(newUserId()).id
    const { epoch } = yield* messages.claim(roomId)
    const opening = batch(roomId, 0, 1)
    yield* messages.append(roomId, opening, { epoch, afterSeq: 0 })
    return { messages, roomId, epoch, opening }
  })

/** Waits on the wall clock, which leases run on (also under a test's `TestClock`). */
const pause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** The lease the partition holding `first` stores (wall-clock ms). */
const storedLease = (roomId: RoomId, first: MessageRecord) =>
  Effect.gen(function* () {
    const db = yield* CassandraClient
    const rs = yield* db.execute(
      "test.lease",
      "SELECT lease_until FROM room_messages WHERE room_id = ? AND bucket = ? LIMIT 1",
      [uuid(roomId), new Date(timeUuidMs(first.id))]
    )
    return (rs.first()!.get("lease_until") as Date).getTime()
  })

export const cassandraFencing = (
  it: Vitest.MethodsNonLive<CassandraClient>,
  settings: Effect.Effect<CassandraConfig>
) =>
  describe("cassandra: an append's two steps cut apart", () => {
    it.effect("one request without an answer (a slow query, a saturated pool) does not refuse the next ones", () =>
      Effect.gen(function* () {
        let silence = true
        const client = yield* silencingClient(settings, (query) => silence && query.includes("system.local"))
        const quiet = "SELECT release_version FROM system.local"
        yield* Effect.flip(client.execute("test.quiet", quiet))
        silence = false
        assert.strictEqual((yield* client.execute("test.next", quiet)).rowLength, 1)
      }).pipe(Effect.scoped, TestClock.withLive)
    )

    it.effect("a commit that timed out in the driver and opened the breaker is still settled as applied", () =>
      Effect.gen(function* () {
        const reader = yield* messagesOn(yield* CassandraClient)
        let silence = false
        const client = yield* silencingClient(
          settings,
          (query) => silence && (query.includes("system.local") || query.includes("room_messages SET last_seq"))
        )
        // A lease longer than the 4 s the withheld commit waits: it is answered within it.
        const messages = yield* messagesOn(client, { lease: 60_000, skew: 250 })
        const roomId = newRoom(newUserId()).id
        const { epoch } = yield* messages.claim(roomId)
        // The room's first append opens its first partition; the next one, in the same
        // millisecond, is a single commit on it.
        const opening = batch(roomId, 0, 1)
        yield* messages.append(roomId, opening, { epoch, afterSeq: 0 })
        silence = true
        // The cluster goes quiet: requests before the append, then its commit, get no answer.
        const quiet = "SELECT release_version FROM system.local"
        yield* Effect.forEach(
          Array.from({ length: silentRequestsToTrip - 1 }),
          () => Effect.flip(client.execute("test.quiet", quiet)),
          { concurrency: "unbounded" }
        )
        const sent = following(opening[0]!, 2)
        yield* messages.append(roomId, sent, { epoch, afterSeq: 1 })
        // The commit's timeout did open the breaker: requests through it are refused unsent.
        silence = false
        const refused = yield* Effect.flip(client.execute("test.refused", quiet))
        assert.strictEqual((refused.cause as { _tag?: string })._tag, "CircuitBreakerError")
        assert.deepStrictEqual(yield* history(reader, roomId), [...opening, ...sent])
        // Real timeouts: the test clock would never let a withheld answer time out.
      }).pipe(Effect.scoped, TestClock.withLive)
    )

    it.effect("a batch whose head committed but whose rows never landed is written by the next claim", () =>
      Effect.gen(function* () {
        const hooks: Hooks = {}
        const messages = yield* hookedMessages(hooks)
        const roomId = newRoom(newUserId()).id
        const first = yield* messages.claim(roomId)
        const sent = batch(roomId, 0, 3)
        hooks.failRows = true
        const failed = yield* Effect.exit(messages.append(roomId, sent, { epoch: first.epoch, afterSeq: 0 }))
        assert.isTrue(Exit.isFailure(failed))
        assert.deepStrictEqual(yield* history(messages, roomId), [])
        hooks.failRows = false

        const next = yield* messages.claim(roomId)
        assert.deepStrictEqual(next.repaired, sent)
        assert.deepStrictEqual([next.lastSeq, next.lastId], [3, sent[2]!.id])
        assert.deepStrictEqual(yield* history(messages, roomId), sent)
        for (const m of sent) {
          assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, m.userId, m.clientMsgId!), Option.some(m))
        }
        // Repaired once: the claim cleared it, and the room goes on from seq 3.
        assert.deepStrictEqual((yield* messages.claim(roomId)).repaired, [])
      }).pipe(Effect.scoped)
    )

    it.effect("a head LWT reported as timed out that did apply is settled as applied: the rows follow", () =>
      Effect.gen(function* () {
        const hooks: Hooks = {}
        const messages = yield* hookedMessages(hooks)
        const roomId = newRoom(newUserId()).id
        const { epoch } = yield* messages.claim(roomId)
        const sent = batch(roomId, 0, 2)
        hooks.head = (real) => Effect.andThen(real, Effect.fail(timedOut("messages.append.head")))
        yield* messages.append(roomId, sent, { epoch, afterSeq: 0 })
        assert.deepStrictEqual(yield* history(messages, roomId), sent)
      }).pipe(Effect.scoped)
    )

    it.effect("a head LWT held back and sent after the room moved on is refused: no seq given twice", () =>
      Effect.gen(function* () {
        const hooks: Hooks = {}
        const messages = yield* hookedMessages(hooks)
        const roomId = newRoom(newUserId()).id
        const { epoch } = yield* messages.claim(roomId)
        let held: Effect.Effect<cassandra.types.ResultSet, StorageError> | undefined
        hooks.head = (real) =>
          Effect.suspend(() => {
            held = real
            return Effect.fail(timedOut("messages.append.head"))
          })
        const late = batch(roomId, 0, 2)
        const failed = yield* Effect.flip(messages.append(roomId, late, { epoch, afterSeq: 0 }))
        // The SERIAL read found the head unmoved: a plain failure, nothing stored.
        assert.strictEqual(failed._tag, "StorageError")
        assert.deepStrictEqual(yield* history(messages, roomId), [])

        // The writer claims again, as the room's actor does after a failed write, and goes on.
        const again = yield* messages.claim(roomId)
        const next = batch(roomId, 0, 3)
        yield* messages.append(roomId, next, { epoch: again.epoch, afterSeq: again.lastSeq })
        // Now the held statement reaches Cassandra.
        const landed = yield* held!
        assert.isFalse(landed.wasApplied())
        assert.deepStrictEqual(yield* history(messages, roomId), next)
        assert.deepStrictEqual((yield* messages.claim(roomId)).lastId, next[2]!.id)
      }).pipe(Effect.scoped)
    )

    it.effect("a commit held past its owner's lease that lands after another node claimed is never read", () =>
      Effect.gen(function* () {
        const hooks: Hooks = {}
        const a = yield* hookedMessages(hooks, shortLease)
        const b = yield* hookedMessages({}, shortLease)
        const roomId = newRoom(newUserId()).id
        const first = yield* a.claim(roomId)
        const opening = batch(roomId, 0, 1)
        yield* a.append(roomId, opening, { epoch: first.epoch, afterSeq: 0 })
        // A's next commit is sent, but reaches Cassandra only after B has taken the room over.
        let held: Effect.Effect<cassandra.types.ResultSet, StorageError> | undefined
        hooks.head = (real) =>
          Effect.suspend(() => {
            held = real
            return Effect.fail(timedOut("messages.append.commit"))
          })
        const late = following(opening[0]!, 2)
        assert.strictEqual(
          (yield* Effect.flip(a.append(roomId, late, { epoch: first.epoch, afterSeq: 1 })))._tag,
          "StorageError"
        )
        // B waits out A's lease, claims and stores seq 2 and 3 itself.
        const owner = yield* b.claim(roomId)
        assert.deepStrictEqual([owner.lastSeq, owner.lastId], [1, opening[0]!.id])
        const next = following(opening[0]!, 2)
        yield* b.append(roomId, next, { epoch: owner.epoch, afterSeq: 1 })
        yield* held!
        assert.deepStrictEqual(yield* history(b, roomId), [...opening, ...next])
        assert.deepStrictEqual((yield* b.claim(roomId)).lastId, next[1]!.id)
      }).pipe(Effect.scoped)
    )

    it.effect(
      "a node taking a room over waits out the owner's lease: the owner acknowledges nothing it then shadows",
      () =>
        Effect.gen(function* () {
          const a = yield* hookedMessages({}, shortLease)
          const hooks: Hooks = {}
          const b = yield* hookedMessages(hooks, shortLease)
          const roomId = newRoom(newUserId()).id
          const first = yield* a.claim(roomId)
          const opening = batch(roomId, 0, 1)
          yield* a.append(roomId, opening, { epoch: first.epoch, afterSeq: 0 })
          // A sends a commit right after B's LWT, before B shadows what follows the head it read.
          const sent = following(opening[0]!, 1)
          let outcome: Exit.Exit<void, unknown> | undefined
          hooks.afterClaim = Effect.map(
            Effect.exit(a.append(roomId, sent, { epoch: first.epoch, afterSeq: 1 })),
            (exit) => {
              outcome = exit
            }
          )
          const owner = yield* b.claim(roomId)
          // B waited A's lease out: A renews first, which is refused, so it acknowledges nothing.
          const refused = Exit.isFailure(outcome!) ? Cause.squash(outcome.cause) : undefined
          assert.strictEqual((refused as { reason?: string } | undefined)?.reason, "deposed")
          assert.deepStrictEqual([owner.lastSeq, yield* history(b, roomId)], [1, opening])
        }).pipe(Effect.scoped)
    )

    it.effect("an owner whose commit is answered after its lease ran out does not acknowledge it", () =>
      Effect.gen(function* () {
        const hooks: Hooks = {}
        const messages = yield* hookedMessages(hooks, shortLease)
        const roomId = newRoom(newUserId()).id
        const first = yield* messages.claim(roomId)
        const opening = batch(roomId, 0, 1)
        yield* messages.append(roomId, opening, { epoch: first.epoch, afterSeq: 0 })
        // The commit lands, but its answer comes back after the lease has run out.
        hooks.head = (real) =>
          Effect.tap(real, () => Effect.promise(() => new Promise((r) => setTimeout(r, shortLease.lease + 100))))
        const slow = following(opening[0]!, 1)
        const failed = yield* Effect.flip(messages.append(roomId, slow, { epoch: first.epoch, afterSeq: 1 }))
        assert.include(String(failed.cause), "lease ran out")
        // Stored all the same (an unknown outcome): the next claim continues after it, once.
        const again = yield* messages.claim(roomId)
        assert.deepStrictEqual([again.lastSeq, again.repaired], [2, slow])
        assert.deepStrictEqual(yield* history(messages, roomId), [...opening, ...slow])
      }).pipe(Effect.scoped)
    )

    it.effect("after a pause, one conditional commit stores the send and renews the lease: no renewal before it", () =>
      Effect.gen(function* () {
        const hooks: Hooks = {}
        const { messages, roomId, epoch, opening } = yield* openedRoom(hooks, shortLease)
        const busy = following(opening[0]!, 1)
        yield* messages.append(roomId, busy, { epoch, afterSeq: 1 })
        // The room goes quiet past its lease and the clocks' skew.
        yield* pause(shortLease.lease + shortLease.skew + 50)
        hooks.seen = []
        const before = Date.now()
        const quiet = following(busy[0]!, 1)
        yield* messages.append(roomId, quiet, { epoch, afterSeq: 2 })
        assert.deepStrictEqual(
          hooks.seen.filter((op) => op.startsWith("messages.append") && op !== "messages.append.clientIds"),
          ["messages.append.commit"]
        )
        assert.isAtLeast(yield* storedLease(roomId, opening[0]!), before + shortLease.lease)
        // The next commit right after it is a plain one, above the conditional one's timestamp
        // (read back first): the head it writes is the one read.
        hooks.seen = []
        const burst = following(quiet[0]!, 2)
        yield* messages.append(roomId, burst, { epoch, afterSeq: 3 })
        assert.include(hooks.seen, "messages.append.written")
        assert.notInclude(hooks.seen, "messages.append.lease")
        assert.deepStrictEqual(yield* history(messages, roomId), [...opening, ...busy, ...quiet, ...burst])
        const again = yield* messages.claim(roomId)
        assert.deepStrictEqual([again.lastSeq, again.lastId], [5, burst[1]!.id])
      }).pipe(Effect.scoped)
    )

    it.effect("a commit whose lease runs out before it is sent (a slow read before it) is not sent", () =>
      Effect.gen(function* () {
        const hooks: Hooks = {}
        const { messages, roomId, epoch, opening } = yield* openedRoom(hooks, shortLease)
        yield* pause(shortLease.lease + shortLease.skew + 50)
        // After a pause: a renewing commit, so the next plain one reads the floor first.
        const quiet = following(opening[0]!, 1)
        yield* messages.append(roomId, quiet, { epoch, afterSeq: 1 })
        // That read answers only after the lease has run out.
        hooks.late = { "messages.append.written": shortLease.lease + 50 }
        hooks.seen = []
        const failed = yield* Effect.flip(messages.append(roomId, following(quiet[0]!, 1), { epoch, afterSeq: 2 }))
        assert.include(String(failed.cause), "nothing was sent")
        assert.notInclude(hooks.seen, "messages.append.commit")
        assert.deepStrictEqual(yield* history(messages, roomId), [...opening, ...quiet])
      }).pipe(Effect.scoped)
    )

    it.effect(
      "a room's deletion waits out its owner's lease by the configured skew, as a claim from an actor does",
      () =>
        Effect.gen(function* () {
          const leases: LeaseOptions = { lease: 300, skew: 700 }
          const owner = yield* hookedMessages({}, leases)
          const client = yield* CassandraClient
          const claimsSentAt: Array<number> = []
          const watched = CassandraClient.of({
            ...client,
            execute: (operation, query, params, options) => {
              if (operation === "messages.claim") claimsSentAt.push(Date.now())
              return client.execute(operation, query, params, options)
            }
          })
          const rooms = Context.get(
            yield* Layer.build(CassandraRooms(leases).pipe(Layer.provide(Layer.succeed(CassandraClient, watched)))),
            Rooms
          )
          const room = newRoom(newUserId())
          yield* rooms.create(room)
          const { epoch } = yield* owner.claim(room.id)
          const opening = batch(room.id, 0, 1)
          yield* owner.append(room.id, opening, { epoch, afterSeq: 0 })
          const leaseUntil = yield* storedLease(room.id, opening[0]!)
          assert.isTrue(yield* rooms.delete(room.id))
          assert.isAtLeast(claimsSentAt[0]!, leaseUntil + leases.skew)
        }).pipe(Effect.scoped)
    )

    it.effect("a commit within the clocks' skew of the last plain write renews the lease by its own LWT first", () =>
      Effect.gen(function* () {
        const hooks: Hooks = {}
        // A skew longer than the lease: the renewal falls due while the last plain write is
        // recent enough that a Paxos round's timestamp might not be above it.
        const { messages, roomId, epoch, opening } = yield* openedRoom(hooks, { lease: 300, skew: 2000 })
        const plain = following(opening[0]!, 1)
        yield* messages.append(roomId, plain, { epoch, afterSeq: 1 })
        yield* pause(200)
        hooks.seen = []
        const next = following(plain[0]!, 1)
        yield* messages.append(roomId, next, { epoch, afterSeq: 2 })
        assert.deepStrictEqual(
          hooks.seen.filter((op) => op === "messages.append.lease" || op === "messages.append.commit"),
          ["messages.append.lease", "messages.append.commit"]
        )
        assert.deepStrictEqual(yield* history(messages, roomId), [...opening, ...plain, ...next])
      }).pipe(Effect.scoped)
    )

    it.effect("an owner's commit after a pause, once another node claimed the room, is refused and never read", () =>
      Effect.gen(function* () {
        const a = yield* hookedMessages({}, shortLease)
        const b = yield* hookedMessages({}, shortLease)
        const roomId = newRoom(newUserId()).id
        const first = yield* a.claim(roomId)
        const opening = batch(roomId, 0, 1)
        yield* a.append(roomId, opening, { epoch: first.epoch, afterSeq: 0 })
        const busy = following(opening[0]!, 1)
        yield* a.append(roomId, busy, { epoch: first.epoch, afterSeq: 1 })
        // B waits A's lease out and takes the room over without storing anything: only the
        // epoch tells A's next commit (at the head it knows) apart.
        const owner = yield* b.claim(roomId)
        assert.strictEqual(owner.lastSeq, 2)
        const late = following(busy[0]!, 1)
        const failed = yield* Effect.flip(a.append(roomId, late, { epoch: first.epoch, afterSeq: 2 }))
        assert.deepStrictEqual([failed._tag, "reason" in failed ? failed.reason : null], ["StaleWrite", "deposed"])
        assert.deepStrictEqual(yield* history(b, roomId), [...opening, ...busy])
        const next = following(busy[0]!, 1)
        yield* b.append(roomId, next, { epoch: owner.epoch, afterSeq: 2 })
        assert.deepStrictEqual(yield* history(b, roomId), [...opening, ...busy, ...next])
      }).pipe(Effect.scoped)
    )

    it.effect("a head written before fencing (no epoch) is taken over by the first claim", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const messages = yield* hookedMessages({})
        const roomId = newRoom(newUserId()).id
        const old = batch(roomId, 0, 2)
        // What a version before 004 left: rows in fixed time windows with their index rows
        // and client ids, and a head moved by a plain write, without an epoch.
        const window = (m: MessageRecord) => Math.floor(timeUuidMs(m.id) / testMessageBucketMs) * testMessageBucketMs
        for (const m of old) {
          yield* db.execute(
            "test",
            `INSERT INTO room_messages (room_id, bucket, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [uuid(roomId), new Date(window(m)), ...messageValues(m)]
          )
          yield* db.execute("test", "INSERT INTO room_buckets (room_id, bucket) VALUES (?, ?)", [
            uuid(roomId),
            new Date(window(m))
          ])
          // Its client-id entry, as migration 005 copied it from room_messages_by_client_id.
          yield* db.execute(
            "test",
            `INSERT INTO room_client_ids (room_id, shard, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [uuid(roomId), clientIdShard(m.userId, m.clientMsgId!), ...messageValues(m)]
          )
        }
        yield* db.execute(
          "test",
          "INSERT INTO room_heads (room_id, last_seq, last_msg_id, last_bucket) VALUES (?, ?, ?, ?)",
          [uuid(roomId), 2, uuid(old[1]!.id), new Date(window(old[1]!))]
        )
        const claimed = yield* messages.claim(roomId)
        assert.deepStrictEqual([claimed.epoch, claimed.lastSeq, claimed.lastId], [1, 2, old[1]!.id])
        const next = batch(roomId, 2, 1)
        yield* messages.append(roomId, next, { epoch: claimed.epoch, afterSeq: 2 })
        assert.deepStrictEqual(yield* history(messages, roomId), [...old, ...next])
        // Retries of the old messages are still recognised.
        for (const m of old) {
          assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, m.userId, m.clientMsgId!), Option.some(m))
        }
      }).pipe(Effect.scoped)
    )

    it.effect("a batch a 004 head left pending (committed, rows missing) is written by the first claim", () =>
      Effect.gen(function* () {
        const db = yield* CassandraClient
        const messages = yield* hookedMessages({})
        const roomId = newRoom(newUserId()).id
        const sent = batch(roomId, 0, 2)
        const window = (m: MessageRecord) => Math.floor(timeUuidMs(m.id) / testMessageBucketMs) * testMessageBucketMs
        // Version 004's head: its LWT applied with the batch in `pending`, then the node died.
        const pending = JSON.stringify(sent.map((m) => ({ ...m, roomId: undefined, bucket: window(m) })))
        yield* db.execute(
          "test",
          "INSERT INTO room_heads (room_id, epoch, last_seq, last_msg_id, last_bucket, pending) VALUES (?, ?, ?, ?, ?, ?)",
          [uuid(roomId), 3, 2, uuid(sent[1]!.id), new Date(window(sent[1]!)), pending]
        )
        assert.deepStrictEqual(yield* history(messages, roomId), [])
        const claimed = yield* messages.claim(roomId)
        assert.deepStrictEqual([claimed.epoch, claimed.lastSeq, claimed.lastId], [4, 2, sent[1]!.id])
        assert.deepStrictEqual(claimed.repaired, sent)
        assert.deepStrictEqual(yield* history(messages, roomId), sent)
        for (const m of sent) {
          assert.deepStrictEqual(yield* messages.findByClientMsgId(roomId, m.userId, m.clientMsgId!), Option.some(m))
        }
        const again = yield* messages.claim(roomId)
        assert.deepStrictEqual(again.repaired, [])
        const next = batch(roomId, 2, 1)
        yield* messages.append(roomId, next, { epoch: again.epoch, afterSeq: 2 })
        assert.deepStrictEqual(yield* history(messages, roomId), [...sent, ...next])
      }).pipe(Effect.scoped)
    )

    it.effect("a client-id entry written beside a refused commit does not count: the retry is stored, once", () =>
      Effect.gen(function* () {
        // Two nodes: A does not know that B has claimed the room, so it sends its commit and
        // its client ids side by side; the commit is refused, the entries land.
        const a = yield* hookedMessages({})
        const b = yield* hookedMessages({})
        const roomId = newRoom(newUserId()).id
        const first = yield* a.claim(roomId)
        const opening = batch(roomId, 0, 1)
        yield* a.append(roomId, opening, { epoch: first.epoch, afterSeq: 0 })
        const owner = yield* b.claim(roomId)
        const refused = following(opening[0]!, 1)
        const failed = yield* Effect.flip(a.append(roomId, refused, { epoch: first.epoch, afterSeq: 1 }))
        assert.deepStrictEqual([failed._tag, "reason" in failed ? failed.reason : null], ["StaleWrite", "deposed"])
        const { userId, clientMsgId } = refused[0]!
        assert.isTrue(Option.isNone(yield* b.findByClientMsgId(roomId, userId, clientMsgId!)))
        // The sender retries at the owner: stored, and found from now on.
        const retry = following(opening[0]!, 1).map((m) => ({ ...m, clientMsgId }))
        yield* b.append(roomId, retry, { epoch: owner.epoch, afterSeq: 1 })
        assert.deepStrictEqual(yield* b.findByClientMsgId(roomId, userId, clientMsgId!), Option.some(retry[0]!))
        assert.deepStrictEqual(yield* history(b, roomId), [...opening, ...retry])
      }).pipe(Effect.scoped)
    )
  })
