/**
 * Migration 4 on a database the previous version wrote: every room's head starts at its
 * newest stored seq, so the first claim continues the room instead of restarting at seq 1.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { assert, it } from "@effect/vitest"
import { makeTimeUuidClock, type RoomId } from "@parley/domain"
import { Effect, Layer } from "effect"
import { Messages, SqliteStorage } from "../src/index.ts"
import { migrations } from "../src/sqlite/migrations.ts"
import { timeUuidKey } from "../src/sqlite/timeuuid-key.ts"

it.effect("rooms stored before fencing keep their seq: the first claim continues from the newest", () =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "parley-fencing-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const file = join(dir, "old.db")
    const clock = makeTimeUuidClock()
    const rooms = [clock.next(Date.now()), clock.next(Date.now())] as Array<RoomId>
    const ids: Array<string> = []
    // The schema and rows as version 3 left them.
    const old = new DatabaseSync(file)
    old.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    for (const m of migrations.filter((m) => m.version <= 3)) {
      old.exec(m.sql)
      old.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(m.version, m.name, Date.now())
    }
    const insert = old.prepare(
      "INSERT INTO room_messages (room_id, seq, msg_id, msg_key, user_id, username, content, client_msg_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)"
    )
    for (const [r, count] of [
      [rooms[0]!, 3],
      [rooms[1]!, 1]
    ] as const) {
      for (let seq = 1; seq <= count; seq++) {
        const id = clock.next(Date.now())
        ids.push(id)
        insert.run(r, seq, id, timeUuidKey(id), crypto.randomUUID(), "old", `m${seq}`, Date.now())
      }
    }
    old.close()

    const heads = yield* Effect.gen(function* () {
      const messages = yield* Messages
      return yield* Effect.forEach([...rooms, clock.next(Date.now()) as RoomId], (r) => messages.claim(r))
    }).pipe(Effect.provide(SqliteStorage.layer(file).pipe(Layer.orDie)))
    assert.deepStrictEqual(
      heads.map((h): [number, string | null] => [h.lastSeq, h.lastId]),
      [
        [3, ids[2]!],
        [1, ids[3]!],
        [0, null]
      ]
    )
  }).pipe(Effect.scoped)
)
