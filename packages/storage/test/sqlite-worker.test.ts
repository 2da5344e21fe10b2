import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { assert, describe, it, layer } from "@effect/vitest"
import {
  EmailRegistered,
  type MessageId,
  makeTimeUuidClock,
  type RoomId,
  type SessionId,
  UsernameTaken
} from "@parley/domain"
import { Effect, Exit, Layer, Option, Schedule } from "effect"
import { afterAll } from "vitest"
import {
  ClientMsgIdStored,
  type MessageRecord,
  Messages,
  plainMessage,
  Rooms,
  SqliteStorage,
  StaleWrite,
  StorageError,
  Users
} from "../src/index.ts"
import { appendHereMax } from "../src/sqlite/appends-here.ts"
import { checkpointInBackground } from "../src/sqlite/checkpoints.ts"
import { backstopCheckpointPages, SqliteDatabase, type SqliteOptions } from "../src/sqlite/database.ts"
import { layerThread } from "../src/sqlite/worker-layer.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { conformance } from "./conformance.ts"
import { newMessage, newRoom, newUser, newUserId, unique } from "./fixtures.ts"

const dir = mkdtempSync(join(tmpdir(), "parley-sqlite-worker-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The same contract as the in-thread layer, every call crossing to the worker thread and back. */
conformance("sqlite worker", SqliteStorage.layerWorker(join(dir, "conformance.db")))

layer(SqliteStorage.layerWorker(join(dir, "proxy.db")))("sqlite worker: values and errors cross intact", (it) => {
  it.effect("an Option comes back as an Option, Some and None", () =>
    Effect.gen(function* () {
      const users = yield* Users
      const name = unique("opt_")
      const user = yield* users.create(newUser(name, `${name}@example.com`))
      const found = yield* users.findByUsername(name)
      assert.isTrue(Option.isOption(found))
      assert.deepStrictEqual(found, Option.some(user))
      const missing = yield* users.findByUsername(unique("nobody_"))
      assert.isTrue(Option.isOption(missing) && Option.isNone(missing))
    })
  )

  it.effect("calls made together travel together; one that cannot cross fails alone", () =>
    Effect.gen(function* () {
      const users = yield* Users
      const name = unique("batch_")
      const user = yield* users.create(newUser(name, `${name}@example.com`))
      // In one turn: the good calls around a bad one (a function cannot be cloned) share its message.
      const [before, bad, after] = yield* Effect.all(
        [
          users.findByUsername(name),
          Effect.exit(users.findByUsername((() => name) as unknown as string)),
          users.findById(user.id)
        ],
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(before, Option.some(user))
      assert.deepStrictEqual(after, Option.some(user))
      assert.isTrue(Exit.isFailure(bad))
      const error = Exit.isFailure(bad) ? bad.cause.reasons.find((r) => r._tag === "Fail") : undefined
      assert.instanceOf(error?._tag === "Fail" ? error.error : undefined, StorageError)
    })
  )

  it.effect("the domain's errors keep their class, tag and fields", () =>
    Effect.gen(function* () {
      const users = yield* Users
      const name = unique("dup_")
      yield* users.create(newUser(name, `${name}@example.com`))
      const taken = yield* Effect.flip(users.create(newUser(name, `${unique("other_")}@example.com`)))
      assert.instanceOf(taken, UsernameTaken)
      assert.strictEqual(taken._tag, "UsernameTaken")
      assert.strictEqual((taken as UsernameTaken).error.code, "username_taken")
      const registered = yield* Effect.flip(users.create(newUser(unique("other_"), `${name}@example.com`)))
      assert.instanceOf(registered, EmailRegistered)
    })
  )

  it.effect("StaleWrite keeps its class, room and reason", () =>
    Effect.gen(function* () {
      const messages = yield* Messages
      const roomId = newRoom(newUserId()).id
      const first = yield* messages.claim(roomId)
      yield* messages.claim(roomId)
      const message: MessageRecord = {
        roomId,
        id: makeTimeUuidClock().next(Date.now()) as MessageId,
        seq: 1,
        userId: newUserId(),
        username: "sam",
        text: "late",
        clientMsgId: null,
        createdAt: Date.now(),
        ...plainMessage
      }
      const error = yield* Effect.flip(messages.append(roomId, [message], { epoch: first.epoch, afterSeq: 0 }))
      assert.instanceOf(error, StaleWrite)
      assert.strictEqual((error as StaleWrite).roomId, roomId)
      assert.strictEqual((error as StaleWrite).reason, "deposed")
    })
  )

  it.effect("ClientMsgIdStored keeps its class, whether the append is written here or in the worker", () =>
    Effect.gen(function* () {
      const messages = yield* Messages
      assert.isTrue(messages.refusesStoredClientMsgIds)
      const roomId = newRoom(newUserId()).id
      const first = { ...newMessage(roomId, 1), clientMsgId: "once" }
      yield* appendAsOwner(messages, roomId, [first])
      // One short message is written on this thread; two go to the worker (`appends-here.ts`).
      for (const batch of [
        [{ ...newMessage(roomId, 2), userId: first.userId, clientMsgId: "once" }],
        [newMessage(roomId, 2), { ...newMessage(roomId, 3), userId: first.userId, clientMsgId: "once" }]
      ]) {
        const error = yield* Effect.flip(appendAsOwner(messages, roomId, batch))
        assert.instanceOf(error, ClientMsgIdStored)
        assert.strictEqual((error as ClientMsgIdStored).roomId, roomId)
      }
      assert.deepStrictEqual(yield* messages.listAfter(roomId, { after: null, limit: 10 }), [first])
    })
  )

  it.effect("StorageError keeps its class, operation and the cause's message", () =>
    Effect.gen(function* () {
      const rooms = yield* Rooms
      const room = newRoom(newUserId())
      const error = yield* Effect.flip(
        rooms.putMember({ roomId: room.id, userId: newUserId(), role: "member", joinedAt: Date.now() })
      )
      assert.instanceOf(error, StorageError)
      assert.isString(error.operation)
      assert.instanceOf(error.cause, Error)
      assert.match((error.cause as Error).message, /constraint/i)
    })
  )

  it.effect("a TIMEUUID position that is not stored still works as a page bound", () =>
    Effect.gen(function* () {
      const messages = yield* Messages
      const page = yield* messages.listBefore(newRoom(newUserId()).id, {
        before: "ffffffff-ffff-1fff-bfff-ffffffffffff" as MessageId,
        limit: 5
      })
      assert.deepStrictEqual(page, [])
    })
  )
})

describe("sqlite worker: its thread", () => {
  it.effect("a file that is not a database fails the layer with StorageError, as in-thread", () =>
    Effect.gen(function* () {
      const file = join(dir, "garbage.db")
      writeFileSync(file, "this is not a database ".repeat(400))
      const exit = yield* Effect.exit(Layer.build(SqliteStorage.layerWorker(file)))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
      assert.instanceOf((error as { error: unknown } | undefined)?.error, StorageError)
      assert.strictEqual(((error as { error: StorageError }).error as StorageError).operation, "sqlite.open")
    }).pipe(Effect.scoped)
  )

  it.effect("closing the layer closes the database in the worker (its WAL file is removed)", () =>
    Effect.gen(function* () {
      const file = join(dir, "closed.db")
      yield* Effect.gen(function* () {
        const users = yield* Users
        const name = unique("wal_")
        yield* users.create(newUser(name, `${name}@example.com`))
        assert.isTrue(existsSync(`${file}-wal`))
      }).pipe(Effect.provide(SqliteStorage.layerWorker(file)))
      assert.isFalse(existsSync(`${file}-wal`))
    })
  )

  it.effect("an upgrade's point reads are answered on this thread, from a file the worker migrated", () =>
    Effect.gen(function* () {
      const file = join(dir, "read-here.db")
      const { user, room } = yield* Effect.gen(function* () {
        const name = unique("here_")
        const user = yield* (yield* Users).create(newUser(name, `${name}@example.com`))
        const room = newRoom(user.id)
        yield* (yield* Rooms).create(room)
        return { user, room }
      }).pipe(Effect.provide(SqliteStorage.layerWorker(file)))
      // This worker never answers a read (nor anything else the test asks): only a read made
      // on this thread comes back, and it finds what the real worker wrote.
      const dying = layerThread(new URL("./dying-sqlite-worker.ts", import.meta.url), file, { checkpointer: false })
      const found = yield* Effect.gen(function* () {
        const users = yield* Users
        const rooms = yield* Rooms
        const found = {
          user: yield* users.findById(user.id),
          withSession: Option.map(
            yield* users.findWithSession(user.id, crypto.randomUUID() as SessionId),
            (f) => f.user
          ),
          room: yield* rooms.get(room.id),
          membership: Option.map(yield* rooms.membership(room.id, user.id), (m) => m.role),
          withMembership: Option.map(yield* rooms.getWithMembership(room.id, user.id), (f) => f.room)
        }
        // Ends the stand-in's thread, so that closing the layer does not wait for it.
        yield* Effect.flip(users.findByUsername("crash"))
        return found
      }).pipe(Effect.provide(dying), Effect.timeout("10 seconds"))
      assert.deepStrictEqual(found, {
        user: Option.some(user),
        withSession: Option.some(user),
        room: Option.some(room),
        membership: Option.some("owner"),
        withMembership: Option.some(room)
      })
    })
  )

  it.effect("a point read on this thread sees the write the worker answered just before it", () =>
    Effect.gen(function* () {
      const users = yield* Users
      const rooms = yield* Rooms
      const name = unique("fresh_")
      const user = yield* users.create(newUser(name, `${name}@example.com`))
      assert.deepStrictEqual(yield* users.findById(user.id), Option.some(user))
      const room = newRoom(user.id)
      yield* rooms.create(room)
      assert.deepStrictEqual(yield* rooms.get(room.id), Option.some(room))
      yield* rooms.putMember({ roomId: room.id, userId: user.id, role: "owner", joinedAt: 1 })
      assert.strictEqual(Option.getOrNull(yield* rooms.membership(room.id, user.id))?.role, "owner")
      const role = Effect.map(
        rooms.getWithMembership(room.id, user.id),
        (found) => Option.getOrNull(Option.getOrThrow(found).membership)?.role
      )
      assert.strictEqual(yield* role, "owner")
      yield* rooms.removeMember(room.id, user.id)
      assert.isTrue(Option.isNone(yield* rooms.membership(room.id, user.id)))
      assert.isUndefined(yield* role)
    }).pipe(Effect.provide(SqliteStorage.layerWorker(join(dir, "fresh.db"))))
  )

  it.effect("the read-only connection refuses a write with StorageError and stores nothing", () =>
    Effect.gen(function* () {
      const file = join(dir, "read-only.db")
      const name = unique("ro_")
      yield* Effect.gen(function* () {
        yield* (yield* Users).create(newUser(name, `${name}@example.com`))
      }).pipe(Effect.provide(SqliteStorage.layerWorker(file)))
      const refused = yield* Effect.gen(function* () {
        const db = yield* SqliteDatabase
        return yield* Effect.flip(db.run("test.delete", "DELETE FROM users WHERE username = ?", name))
      }).pipe(Effect.provide(SqliteDatabase.layer(file, { readOnly: true })))
      assert.instanceOf(refused, StorageError)
      const kept = new DatabaseSync(file, { readOnly: true })
      try {
        assert.isDefined(kept.prepare("SELECT 1 FROM users WHERE username = ?").get(name))
      } finally {
        kept.close()
      }
    })
  )

  it.live(
    "committed pages reach the database file from the checkpointer thread, far below the writer's own threshold",
    () =>
      Effect.gen(function* () {
        const file = join(dir, "checkpointed.db")
        const name = unique("ckpt_")
        // The database file alone, without its WAL: what checkpoints have copied into it so far.
        const inFileAlone = Effect.try(() => {
          const copy = join(dir, `${unique("copy_")}.db`)
          copyFileSync(file, copy)
          const db = new DatabaseSync(copy, { readOnly: true })
          try {
            return db.prepare("SELECT username FROM users WHERE username = ?").get(name) !== undefined
          } finally {
            db.close()
            for (const suffix of ["", "-wal", "-shm"]) rmSync(`${copy}${suffix}`, { force: true })
          }
        })
        yield* Effect.gen(function* () {
          yield* (yield* Users).create(newUser(name, `${name}@example.com`))
          // One row is far below any checkpoint the writer would run itself (1,000 pages, or its
          // backstop): only the checkpointer's thread copies it. A copy taken mid-write may not open.
          const copied = yield* inFileAlone.pipe(
            Effect.orElseSucceed(() => false),
            Effect.repeat({ until: (found) => found, schedule: Schedule.spaced("50 millis") }),
            Effect.timeoutOption("15 seconds")
          )
          assert.deepStrictEqual(copied, Option.some(true))
        }).pipe(Effect.provide(SqliteStorage.layerWorker(file)))
      })
  )

  it.live("a checkpointer thread that dies is started again, and not once the database is closed", () =>
    Effect.gen(function* () {
      const file = join(dir, "restarted.db")
      const starts = Effect.sync(() =>
        existsSync(`${file}.starts`) ? readFileSync(`${file}.starts`, "utf8").split("\n").length - 1 : 0
      )
      yield* Effect.gen(function* () {
        yield* checkpointInBackground(file, {
          entry: new URL("./crashing-checkpointer.ts", import.meta.url),
          firstRestartMs: 10
        })
        yield* starts.pipe(
          Effect.repeat({ until: (n) => n >= 3, schedule: Schedule.spaced("20 millis") }),
          Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die("not started again") })
        )
      }).pipe(Effect.scoped)
      // Closed: the thread running then was waited for, and no other may start.
      const afterClose = yield* starts
      yield* Effect.sleep("300 millis")
      assert.strictEqual(yield* starts, afterClose)
    })
  )

  it.effect("the worker's writer, told the checkpointer does it, leaves 1,000 pages and more in the WAL", () =>
    Effect.gen(function* () {
      const file = join(dir, "backstop.db")
      yield* Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const { epoch } = yield* messages.claim(roomId)
        const text = "word ".repeat(20_000)
        // 60 messages of 100 kB (too long to be written on the server's thread): about 1,500
        // pages of WAL, past SQLite's own 1,000.
        for (let seq = 1; seq <= 60; seq++) {
          yield* messages.append(roomId, [newMessage(roomId, seq, text)], { epoch, afterSeq: seq - 1 })
        }
        // With the checkpointer left out, nothing has copied them into the database file.
        assert.isAbove(statSync(`${file}-wal`).size, 4_000_000)
        assert.isBelow(statSync(file).size, 1_000_000)
      }).pipe(
        Effect.provide(layerThread(new URL("../src/sqlite/worker.ts", import.meta.url), file, { checkpointer: false }))
      )
    })
  )

  it.effect("the writing connection checkpoints by itself only at the backstop when told another does", () =>
    Effect.gen(function* () {
      const setting = (options: SqliteOptions) =>
        Effect.flatMap(SqliteDatabase, (db) =>
          db.get<{ wal_autocheckpoint: number }>("test", "PRAGMA wal_autocheckpoint")
        ).pipe(Effect.provide(SqliteDatabase.layer(join(dir, `${unique("backstop_")}.db`), options)))
      assert.deepStrictEqual(yield* setting({ checkpointedElsewhere: true }), {
        wal_autocheckpoint: backstopCheckpointPages
      })
      assert.deepStrictEqual(yield* setting({}), { wal_autocheckpoint: 1000 })
      // The server's thread's writer (`appends-here.ts`) never checkpoints: no sync on the event loop.
      assert.deepStrictEqual(yield* setting({ besideWorker: true }), { wal_autocheckpoint: 0 })
    })
  )

  it.effect("a worker that dies fails every waiting call, and every later one, with StorageError", () =>
    Effect.gen(function* () {
      const users = yield* Users
      const [unanswered, crashing] = yield* Effect.all(
        [Effect.flip(users.findById(newUserId())), Effect.flip(users.findByUsername("crash"))],
        { concurrency: "unbounded" }
      )
      assert.instanceOf(unanswered, StorageError)
      assert.instanceOf(crashing, StorageError)
      assert.instanceOf(yield* Effect.flip(users.findByEmail("after@example.com")), StorageError)
    }).pipe(Effect.provide(layerThread(new URL("./dying-sqlite-worker.ts", import.meta.url), ":memory:")))
  )
})

describe("sqlite worker: appends on the server's thread", () => {
  /** What `refusing-sqlite-worker.ts` answers every append with. */
  const refusal = "refused by the stand-in"
  const storedSeqs = (file: string, roomId: RoomId) => {
    const db = new DatabaseSync(file, { readOnly: true })
    try {
      return (
        db.prepare("SELECT seq FROM room_messages WHERE room_id = ? ORDER BY seq").all(roomId) as Array<{
          seq: number
        }>
      ).map((row) => row.seq)
    } finally {
      db.close()
    }
  }

  it.live(
    "a few short new messages are written here while the worker is idle; the worker gets a larger batch, a long text, an edit, a batch behind a waiting call, or one that finds the lock held",
    () =>
      Effect.gen(function* () {
        const file = join(dir, "append-here.db")
        const roomId = newRoom(newUserId()).id
        const { epoch } = yield* Effect.flatMap(Messages, (messages) => messages.claim(roomId)).pipe(
          Effect.provide(SqliteStorage.layer(file))
        )
        // This worker refuses every append it gets and answers nothing else.
        const refusing = layerThread(new URL("./refusing-sqlite-worker.ts", import.meta.url), file, {
          checkpointer: false
        })
        const { messages: most, chars } = appendHereMax
        assert.isAtLeast(most, 1)
        yield* Effect.gen(function* () {
          const messages = yield* Messages
          const append = (batch: ReadonlyArray<MessageRecord>) =>
            messages.append(roomId, batch, { epoch, afterSeq: batch[0]!.seq - 1 })
          const refused = (batch: ReadonlyArray<MessageRecord>) =>
            Effect.map(Effect.flip(append(batch)), (error) => assert.include(String(error.cause), refusal))

          yield* append([newMessage(roomId, 1)])
          yield* append(Array.from({ length: most }, (_, i) => newMessage(roomId, i + 2)))
          const stored = Array.from({ length: most + 1 }, (_, i) => i + 1)
          assert.deepStrictEqual(storedSeqs(file, roomId), stored)

          const next = most + 2
          yield* refused(Array.from({ length: most + 1 }, (_, i) => newMessage(roomId, next + i)))
          yield* refused([newMessage(roomId, next, "x".repeat(chars + 1))])
          yield* refused([{ ...newMessage(roomId, next, "edited"), kind: "edit", targetId: newMessage(roomId, 1).id }])

          // Another connection holds the write lock: the append is not retried here.
          const other = new DatabaseSync(file)
          other.exec("BEGIN IMMEDIATE")
          yield* refused([newMessage(roomId, next)]).pipe(Effect.ensuring(Effect.sync(() => other.exec("ROLLBACK"))))
          other.close()

          // A call waiting on the worker (never answered): the next append goes there too, the
          // route chosen when it runs, not when it was made.
          const behind = refused([newMessage(roomId, next)])
          yield* Effect.forkChild(
            Effect.flatMap(Users, (users) => users.findByUsername("waits")),
            {
              startImmediately: true
            }
          )
          yield* behind
          assert.deepStrictEqual(storedSeqs(file, roomId), stored)
        }).pipe(Effect.scoped, Effect.provide(refusing), Effect.timeout("10 seconds"))
      })
  )

  it.effect("one room's appends, here and in the worker by turns, keep their order and see each other's commits", () =>
    Effect.gen(function* () {
      const file = join(dir, "append-by-turns.db")
      const roomId = newRoom(newUserId()).id
      yield* Effect.gen(function* () {
        const messages = yield* Messages
        const { epoch } = yield* messages.claim(roomId)
        let seq = 0
        for (const size of [1, appendHereMax.messages + 1, 1, appendHereMax.messages + 3, 1]) {
          const batch = Array.from({ length: size }, () => newMessage(roomId, ++seq))
          yield* messages.append(roomId, batch, { epoch, afterSeq: batch[0]!.seq - 1 })
        }
        const listed = yield* messages.listAfter(roomId, { after: null, limit: 100 })
        assert.deepStrictEqual(
          listed.map((m) => m.seq),
          Array.from({ length: seq }, (_, i) => i + 1)
        )
      }).pipe(Effect.provide(SqliteStorage.layerWorker(file)))
    })
  )
})
