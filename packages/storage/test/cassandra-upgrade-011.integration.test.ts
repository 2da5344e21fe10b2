/**
 * An existing deployment upgrading to migration 011 (search words in the message rows): a
 * keyspace at version 10 with history written the way version 10 wrote it (rows without
 * `terms`: the column did not exist), then the storage layer started on it. Migration 011's
 * hook must give that history its words (`cassandra/search-backfill.ts`), or search would
 * silently miss everything sent before the upgrade: old messages are found by their current
 * words, a deleted one never, and a second run (another node starting) changes nothing.
 */
import { assert, layer } from "@effect/vitest"
import { type MessageId, type RoomId, timeUuidFrom, type UserId } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Context, Duration, Effect, Layer } from "effect"
import { afterAll, beforeAll } from "vitest"
import type { Params } from "../src/cassandra/client.ts"
import { CassandraClient, qualify } from "../src/cassandra/client.ts"
import { messageColumns, messageValues } from "../src/cassandra/message-rows.ts"
import { CassandraMessages } from "../src/cassandra/messages.ts"
import { migrate } from "../src/cassandra/migrate.ts"
import {
  CassandraConfig,
  CassandraStorage,
  type MessageRecord,
  MessageSearch,
  Messages,
  plainMessage
} from "../src/index.ts"
import { messageTerms } from "../src/search-terms.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { keyspaceAtVersion } from "./keyspace-at-version.ts"

const keyspace = `parley_up11_${Date.now().toString(36)}`
const windowMs = 60_000
const day = 86_400_000
const settings = Effect.runSync(
  Effect.map(CassandraConfig, (config) => ({
    ...config,
    keyspace,
    messageBucket: Duration.millis(windowMs),
    // Four engineers share the node: the setup's thousands of writes must not trip 1 s timeouts.
    requestTimeout: Duration.seconds(10)
  }))
)
const sender = crypto.randomUUID() as UserId
const deleter = crypto.randomUUID() as UserId
/** A UTC day start two days back: room A's history spans two days and several partitions. */
const t0 = Math.floor((Date.now() - 2 * day) / day) * day + 3_600_000
const roomA = timeUuidFrom(t0 - 3_600_000, 0) as RoomId
const roomB = timeUuidFrom(t0 - 3_600_000, 1) as RoomId
/** Written as version 4 wrote it (fixed windows, no head in the partitions): 005 left it so. */
const roomOld = timeUuidFrom(t0 - 3_600_000, 2) as RoomId

const message = (roomId: RoomId, at: number, seq: number, text: string): MessageRecord => ({
  roomId,
  id: timeUuidFrom(at, 0) as MessageId,
  seq,
  userId: sender,
  username: "old",
  text,
  clientMsgId: null,
  createdAt: at,
  ...plainMessage
})

// Room A: three partitions over two days, one message edited (its target in an older
// partition), one deleted.
const a1 = message(roomA, t0, 1, "alpha apple")
const a2 = message(roomA, t0 + 61_000, 2, "alpha banana")
const a3 = message(roomA, t0 + day, 3, "alpha cherry")
const editA1: MessageRecord = {
  ...message(roomA, t0 + day + 1000, 4, "alpha avocado"),
  kind: "edit",
  targetId: a1.id
}
const deleteA2: MessageRecord = {
  ...message(roomA, t0 + day + 2000, 5, ""),
  userId: deleter,
  kind: "delete",
  targetId: a2.id
}
/** Room B: enough messages for several pages of every read, over three partitions; `bN` is message N's own word. */
const manyB = 3000
const roomBMessages = Array.from({ length: manyB }, (_, i) => message(roomB, t0 + i * 50, i + 1, `beta b${i + 1}`))
const oldRoomMessages = [0, 1, 61].map((s, i) => message(roomOld, t0 + s * 1000, i + 1, `gamma old${i + 1}`))

let client: cassandra.Client

/**
 * A statement as version 10 wrote it: without `terms`, `terms_from` and `terms_through` (the
 * insert's columns and values, the update's assignments), which that version's rows did not have.
 */
const withoutTerms = (query: string, params: Params = []): { query: string; params: Params } => {
  const rewritten = stripTerms(query, params)
  // A statement this does not know how to strip would write words and void the test.
  if (/\bterms(_from|_through)?\b/.test(rewritten.query)) throw new Error(`test: cannot write without terms: ${query}`)
  return rewritten
}

const searchColumns = new Set(["terms", "terms_from"])

const stripTerms = (query: string, params: Params): { query: string; params: Params } => {
  // The newest row with its words (016), which a partition's first commit names and a head's read reads.
  if (query.startsWith("SELECT")) return { query: query.replace(", terms_through", ""), params }
  const through = /, terms_through = \?/.exec(query)
  if (through !== null) {
    const at = query.slice(0, through.index).split("?").length - 1
    return stripTerms(
      query.replace(through[0], ""),
      params.filter((_, i) => i !== at)
    )
  }
  const insert = /^INSERT INTO room_messages \(([^)]*)\) VALUES \(([^)]*)\)/.exec(query)
  if (insert !== null) {
    const columns = insert[1]!.split(",").map((c) => c.trim())
    const kept = columns.filter((c) => !searchColumns.has(c))
    return {
      query: query.replace(
        insert[0],
        `INSERT INTO room_messages (${kept.join(", ")}) VALUES (${kept.map(() => "?").join(", ")})`
      ),
      params: params.filter((_, i) => !searchColumns.has(columns[i] ?? ""))
    }
  }
  // An edit's words: `terms = ?` (011) or `terms = terms + ?` (013), one bound value either way.
  const assignment = /terms = (?:terms \+ )?\?, /.exec(query)
  if (!query.startsWith("UPDATE room_messages SET") || assignment === null) return { query, params }
  const at = query.slice(0, assignment.index).split("?").length - 1
  return { query: query.replace(assignment[0], ""), params: params.filter((_, i) => i !== at) }
}

/** Appends as a version-10 node did: rows without their words. */
const version10Messages = Effect.gen(function* () {
  const real = yield* CassandraClient.make(client, settings)
  const batchOf =
    (run: typeof real.batch) =>
    (
      operation: string,
      queries: ReadonlyArray<{ readonly query: string; readonly params: Params }>,
      options?: cassandra.QueryOptions
    ) =>
      // Words written after the ack (016): version 10 had no such write.
      operation === "search.index"
        ? Effect.succeed({ rows: [], wasApplied: () => true } as unknown as cassandra.types.ResultSet)
        : run(
            operation,
            queries.map((q) => withoutTerms(q.query, q.params)),
            options
          )
  const withoutIndex = CassandraClient.of({
    ...real,
    execute: (operation, query, params, options) => {
      const q = withoutTerms(query, params)
      return real.execute(operation, q.query, q.params, options)
    },
    executeUnguarded: (operation, query, params, options) => {
      const q = withoutTerms(query, params)
      return real.executeUnguarded(operation, q.query, q.params, options)
    },
    batch: batchOf(real.batch),
    batchUnguarded: batchOf(real.batchUnguarded)
  })
  const context = yield* Layer.build(
    CassandraMessages(windowMs).pipe(Layer.provide(Layer.succeed(CassandraClient, withoutIndex)))
  )
  return Context.get(context, Messages)
})

/** A room's row, as every version writes it. */
const addRoom = (room: RoomId, name: string) =>
  client.execute(
    qualify(
      keyspace,
      "INSERT INTO rooms (room_id, name, visibility, created_by, created_at) VALUES (?, ?, 'public', ?, ?)"
    ),
    [room, name, sender, new Date(t0 - 3_600_000)],
    { prepare: true }
  )

beforeAll(async () => {
  client = await keyspaceAtVersion(settings, 10)
  // The stand-in for a version-10 node is today's append without search words, which needs the
  // lease column of 014 (a real version-10 node appended with LWTs and had none) and the key
  // chunks of 015 (it kept its keys in entries, which the history here does not use).
  await client.execute(qualify(keyspace, "ALTER TABLE room_messages ADD lease_until timestamp static"))
  await client.execute(qualify(keyspace, "ALTER TABLE room_messages ADD key_chunks map<bigint, blob> static"))
  const run = (query: string, params: Array<unknown>) =>
    client.execute(qualify(keyspace, query), params, { prepare: true })
  for (const [room, name] of [
    [roomA, "a"],
    [roomB, "b"],
    [roomOld, "old"]
  ] as const) {
    await addRoom(room, name)
  }
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const messages = yield* version10Messages
        for (const m of [a1, a2, a3, editA1, deleteA2]) yield* appendAsOwner(messages, roomA, [m])
        for (let i = 0; i < manyB; i += 100) yield* appendAsOwner(messages, roomB, roomBMessages.slice(i, i + 100))
      })
    )
  )
  // Room B's newest partition as a crash right after its rollover left it: committed, not yet
  // listed in room_buckets (the next claim lists it; the migration runs before any claim).
  const newest = (await run("SELECT bucket FROM room_buckets WHERE room_id = ? LIMIT 1", [roomB])).rows[0]!
  await run("DELETE FROM room_buckets WHERE room_id = ? AND bucket = ?", [roomB, newest.get("bucket")])
  for (const m of oldRoomMessages) {
    const window = new Date(Math.floor(m.createdAt / windowMs) * windowMs)
    await run(`INSERT INTO room_messages (room_id, bucket, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
      roomOld,
      window,
      ...messageValues(m)
    ])
    await run("INSERT INTO room_buckets (room_id, bucket) VALUES (?, ?)", [roomOld, window])
  }
}, 600_000)

afterAll(async () => {
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 120_000 })
  } finally {
    await client.shutdown()
  }
})

/** Every message row's words, sorted: the keyspace is this test's own. */
const indexEntries = async () => {
  const entries: Array<string> = []
  let pageState: string | undefined
  do {
    const page = await client.execute(qualify(keyspace, "SELECT room_id, msg_id, terms FROM room_messages"), [], {
      prepare: true,
      fetchSize: 5000,
      ...(pageState === undefined ? {} : { pageState })
    })
    for (const row of page.rows) {
      const terms = row.get("terms") as ReadonlyArray<string> | null
      if (terms !== null) entries.push([row.get("room_id"), row.get("msg_id"), [...terms].sort().join(",")].join(" "))
    }
    pageState = page.pageState ?? undefined
  } while (pageState !== undefined)
  return entries.sort()
}

/** The words a live append gives these messages as they stand now. */
const expectedEntries = (messages: ReadonlyArray<MessageRecord>) =>
  messages.map((m) => [m.roomId, m.id, [...messageTerms(m.text)].sort().join(",")].join(" ")).sort()

/** Starting the storage on the keyspace applies 011 and its hook. */
const storage = CassandraStorage.services(settings).pipe(
  Layer.provideMerge(CassandraClient.layer(settings)),
  Layer.orDie
)

const texts = (rooms: ReadonlyArray<RoomId>, terms: ReadonlyArray<string>, limit = 100) =>
  Effect.flatMap(MessageSearch, (search) =>
    Effect.map(search.search({ rooms, terms, before: null, limit }), (hits) => hits.map((m) => m.text))
  )

layer(storage, { timeout: 600_000 })("cassandra: migration 011 on existing messages", (it) => {
  it.effect("messages stored before the index are found by their current words, a deleted one never", () =>
    Effect.gen(function* () {
      // Exactly the words a live append of each message's current text writes: none for the
      // deleted one or the edit and delete rows, the edited one's new words, every other
      // message's, the unlisted partition's too (checked before a claim lists it).
      const current = [{ ...a1, text: editA1.text }, a3, ...roomBMessages, ...oldRoomMessages]
      assert.deepStrictEqual(yield* Effect.promise(indexEntries), expectedEntries(current))

      yield* Effect.flatMap(Messages, (messages) => messages.claim(roomB))
      assert.deepStrictEqual(yield* texts([roomA], ["alpha"]), ["alpha cherry", "alpha avocado"])
      assert.deepStrictEqual(yield* texts([roomA], ["avocado"]), ["alpha avocado"])
      assert.deepStrictEqual(yield* texts([roomA], ["apple"]), [])
      assert.deepStrictEqual(yield* texts([roomA], ["banana"]), [])
      assert.deepStrictEqual(yield* texts([roomOld], ["gamma"]), ["gamma old3", "gamma old2", "gamma old1"])
      for (const n of [1, 500, 501, 1234, manyB]) {
        assert.deepStrictEqual(yield* texts([roomB], [`b${n}`]), [`beta b${n}`])
      }
      assert.deepStrictEqual(yield* texts([roomA, roomB, roomOld], ["beta"], 3), [
        `beta b${manyB}`,
        `beta b${manyB - 1}`,
        `beta b${manyB - 2}`
      ])
    })
  )

  it.effect("running 011's hook again (a second node starting) changes nothing", () =>
    Effect.gen(function* () {
      const before = yield* Effect.promise(indexEntries)
      const db = yield* CassandraClient
      yield* db.execute("test", "DELETE FROM schema_migrations WHERE version = 11")
      yield* migrate(client, keyspace)
      assert.deepStrictEqual(yield* Effect.promise(indexEntries), before)
      assert.deepStrictEqual(yield* texts([roomA], ["alpha"]), ["alpha cherry", "alpha avocado"])
    })
  )

  it.effect("a node that times out now and then during the pass still gives every message its words", () =>
    Effect.gen(function* () {
      // More history as version 10 wrote it, in a room of its own.
      const roomC = timeUuidFrom(t0 - 3_600_000, 3) as RoomId
      const roomCMessages = Array.from({ length: 300 }, (_, i) =>
        message(roomC, t0 + i * 400, i + 1, `delta d${i + 1}`)
      )
      yield* Effect.promise(() => addRoom(roomC, "c"))
      const old = yield* version10Messages
      for (let i = 0; i < roomCMessages.length; i += 50)
        yield* appendAsOwner(old, roomC, roomCMessages.slice(i, i + 50))
      const db = yield* CassandraClient
      yield* db.execute("test", "DELETE FROM schema_migrations WHERE version = 11")
      // Every 5th read or batch of the hook gets no answer in time (the migrator's own schema
      // statements are left alone: retrying those is not the hook's job).
      let calls = 0
      let timedOut = 0
      const isHooks = (first: unknown) =>
        typeof first !== "string" || !/schema_migrations|^\s*(CREATE|ALTER|DROP)\b/i.test(first)
      const flaky =
        (call: (...args: Array<never>) => Promise<unknown>) =>
        (...args: Array<never>) => {
          if (!isHooks(args[0]) || ++calls % 5 !== 0) return call(...args)
          timedOut++
          return Promise.reject(new cassandra.errors.OperationTimedOutError("test: no answer"))
        }
      const flakyClient = new Proxy(client, {
        get: (target, key) =>
          key === "execute" || key === "batch" ? flaky(target[key].bind(target) as never) : Reflect.get(target, key)
      })
      yield* migrate(flakyClient, keyspace)
      assert.isAbove(timedOut, 5)
      const current = [{ ...a1, text: editA1.text }, a3, ...roomBMessages, ...oldRoomMessages, ...roomCMessages]
      assert.deepStrictEqual(yield* Effect.promise(indexEntries), expectedEntries(current))
      assert.deepStrictEqual(yield* texts([roomC], ["d123"]), ["delta d123"])
    }).pipe(Effect.scoped)
  )

  it.effect("an edit made while the pass runs keeps its new words (the pass writes at the text's write time)", () =>
    Effect.gen(function* () {
      const roomD = timeUuidFrom(t0 - 3_600_000, 4) as RoomId
      const roomDMessages = Array.from({ length: 20 }, (_, i) =>
        message(roomD, t0 + i * 1000, i + 1, `epsilon e${i + 1}`)
      )
      yield* Effect.promise(() => addRoom(roomD, "d"))
      yield* appendAsOwner(yield* version10Messages, roomD, roomDMessages)
      const live = yield* Messages
      const db = yield* CassandraClient
      yield* db.execute("test", "DELETE FROM schema_migrations WHERE version = 11")
      // Between the pass reading room D's rows and writing their words, a live edit of the first
      // of them: its words are newer and must stay.
      let edited: MessageId | undefined
      const editFirst = async (queries: ReadonlyArray<{ readonly params: Params }>) => {
        const first = queries[0]!.params
        if (edited !== undefined || String(first[2]) !== roomD) return
        edited = String(first[4]) as MessageId
        const edit: MessageRecord = {
          ...message(roomD, Date.now(), 0, "epsilon rewritten"),
          kind: "edit",
          targetId: edited
        }
        await Effect.runPromise(
          Effect.flatMap(live.claim(roomD), (head) =>
            live.append(roomD, [{ ...edit, seq: head.lastSeq + 1 }], { epoch: head.epoch, afterSeq: head.lastSeq })
          )
        )
      }
      const racing = new Proxy(client, {
        get: (target, key) =>
          key === "batch"
            ? async (
                queries: ReadonlyArray<{ readonly query: string; readonly params: Params }>,
                ...rest: Array<never>
              ) => {
                if (queries[0]?.query.includes("SET terms")) await editFirst(queries)
                return (target.batch as (...args: Array<unknown>) => Promise<unknown>)(queries, ...rest)
              }
            : Reflect.get(target, key)
      })
      yield* migrate(racing, keyspace)
      assert.isDefined(edited)
      assert.deepStrictEqual(yield* texts([roomD], ["rewritten"]), ["epsilon rewritten"])
    }).pipe(Effect.scoped)
  )
})
