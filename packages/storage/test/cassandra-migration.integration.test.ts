/**
 * An existing deployment upgrading to migration 003: a keyspace at version 2 with users,
 * rooms and messages in it, then the storage layer started on it (which applies 003 and its
 * backfill), then 003 applied again as a second starting node would.
 */
import { assert, layer } from "@effect/vitest"
import { type RoomId, timeUuidFrom, type UserId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Effect, Layer, Option } from "effect"
import { afterAll, beforeAll } from "vitest"
import { CassandraClient, qualify } from "../src/cassandra/client.ts"
import { migrate } from "../src/cassandra/migrate.ts"
import { CassandraConfig, CassandraStorage, Rooms, StorageStats, Users } from "../src/index.ts"
import { unique } from "./fixtures.ts"
import { keyspaceAtVersion } from "./keyspace-at-version.ts"

const keyspace = `parley_mig_${Date.now().toString(36)}`
const settings = Effect.runSync(Effect.map(CassandraConfig, (config) => ({ ...config, keyspace })))
const day = Date.UTC(2020, 0, 1)
const dayMs = 86_400_000

const p = unique("old")
const oldUsers = [`${p}A`, `${p}b`, `${p}c`].map((username) => ({ id: crypto.randomUUID() as UserId, username }))
const owner = oldUsers[0]!.id
const oldRooms = [
  { id: timeUuidFrom(day - 3 * dayMs, 0) as RoomId, name: "lobby", visibility: "public" as const },
  { id: timeUuidFrom(day - 2 * dayMs, 0) as RoomId, name: "secret", visibility: "private" as const }
]
/** Message creation times: two on `day`, one the day before. */
const messageTimes = [day + 5, day + 60_000, day - 5]

let client: cassandra.Client

/** The keyspace as version 2 left it, with rows written the way version 2 wrote them. */
beforeAll(async () => {
  client = await keyspaceAtVersion(settings, 2)

  const run = (query: string, params: Array<unknown>) =>
    client.execute(qualify(keyspace, query), params, { prepare: true })
  const created = new Date(day - 10 * dayMs)
  for (const u of oldUsers) {
    await run(
      "INSERT INTO users (id, username, email, password_hash, role, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, 'user', false, ?, ?)",
      [u.id, u.username, `${u.username}@example.com`, "$argon2id$fake", created, created]
    )
    await run("INSERT INTO users_by_username (username, user_id, reserved_at) VALUES (?, ?, ?)", [
      u.username.toLowerCase(),
      u.id,
      created
    ])
  }
  for (const r of oldRooms) {
    const at = new Date(day - dayMs)
    await run("INSERT INTO rooms (room_id, name, visibility, created_by, created_at) VALUES (?, ?, ?, ?, ?)", [
      r.id,
      r.name,
      r.visibility,
      owner,
      at
    ])
    await run("INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES (?, ?, 'owner', ?)", [
      r.id,
      owner,
      at
    ])
    await run(
      "INSERT INTO rooms_by_user (user_id, room_id, role, joined_at, name, visibility, created_by, created_at) VALUES (?, ?, 'owner', ?, ?, ?, ?, ?)",
      [owner, r.id, at, r.name, r.visibility, owner, at]
    )
    if (r.visibility === "public") {
      await run("INSERT INTO public_rooms (directory, room_id, name, created_by, created_at) VALUES (0, ?, ?, ?, ?)", [
        r.id,
        r.name,
        owner,
        at
      ])
    }
  }
  for (const [i, at] of messageTimes.entries()) {
    await run(
      "INSERT INTO room_messages (room_id, bucket, msg_id, seq, user_id, username, content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      [oldRooms[0]!.id, new Date(day - dayMs), timeUuidFrom(at, 0), i + 1, owner, "old", `old ${i}`, new Date(at)]
    )
  }
})

afterAll(async () => {
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 120_000 })
  } finally {
    await client.shutdown()
  }
})

/** Starting the storage on the keyspace applies 003 and its backfill. */
const storage = CassandraStorage.services(settings).pipe(
  Layer.provideMerge(CassandraClient.layer(settings)),
  Layer.orDie
)

layer(storage, { timeout: 300_000 })("cassandra: migration 003 on existing data", (it) => {
  it.effect("lists the users and rooms stored before it, none of them archived", () =>
    Effect.gen(function* () {
      const users = yield* Users
      const rooms = yield* Rooms
      const listed = yield* users.list({ prefix: p, after: null, limit: 10 })
      assert.deepStrictEqual(
        listed.items.map((u) => u.username),
        oldUsers.map((u) => u.username)
      )
      const all = yield* rooms.listAll({ after: null, limit: 10 })
      assert.deepStrictEqual(
        all.items.map((r) => [r.id, r.name, r.visibility, r.archived]),
        oldRooms.map((r) => [r.id, r.name, r.visibility, false])
      )
      assert.isFalse(Option.getOrThrow(yield* rooms.get(oldRooms[0]!.id)).archived)
      assert.deepStrictEqual(
        (yield* rooms.listPublic({ after: null, limit: 10 })).items.map((r) => [r.id, r.archived]),
        [[oldRooms[0]!.id, false]]
      )
      assert.deepStrictEqual(
        (yield* rooms.listForUser(owner, { after: null, limit: 10 })).items.map((r) => r.room.archived),
        [false, false]
      )
    })
  )

  it.effect("writes each directory row at the write time of the row it copies, so later deletes win", () =>
    Effect.gen(function* () {
      const db = yield* CassandraClient
      const written = (query: string, params: Array<unknown>) =>
        Effect.map(db.execute("test", query, params), (rs) => String(rs.first()?.get("written")))
      for (const u of oldUsers) {
        assert.strictEqual(
          yield* written(
            "SELECT WRITETIME(user_id) AS written FROM user_directory WHERE directory = 0 AND username_key = ?",
            [u.username.toLowerCase()]
          ),
          yield* written("SELECT WRITETIME(username) AS written FROM users WHERE id = ?", [u.id])
        )
      }
      for (const r of oldRooms) {
        assert.strictEqual(
          yield* written("SELECT WRITETIME(name) AS written FROM all_rooms WHERE directory = 0 AND room_id = ?", [
            r.id
          ]),
          yield* written("SELECT WRITETIME(name) AS written FROM rooms WHERE room_id = ?", [r.id])
        )
      }
    })
  )

  it.effect("counts what was stored before it, and what is stored after", () =>
    Effect.gen(function* () {
      const stats = yield* StorageStats
      const users = yield* Users
      const rooms = yield* Rooms
      assert.deepStrictEqual(yield* stats.counts(day), { users: 3, rooms: 2, messagesToday: 2 })
      assert.strictEqual((yield* stats.counts(day - dayMs)).messagesToday, 1)
      const name = unique("new")
      const now = Date.now()
      yield* users.create({
        id: crypto.randomUUID() as UserId,
        username: name,
        email: `${name}@example.com`,
        passwordHash: "$argon2id$fake",
        role: "user",
        disabled: false,
        createdAt: now,
        updatedAt: now
      })
      assert.isTrue(yield* rooms.delete(oldRooms[1]!.id))
      assert.deepStrictEqual(yield* stats.counts(day), { users: 4, rooms: 1, messagesToday: 2 })
    })
  )

  it.effect("applying 003 again (a second node starting) changes nothing", () =>
    Effect.gen(function* () {
      const db = yield* CassandraClient
      const stats = yield* StorageStats
      const rooms = yield* Rooms
      yield* db.execute("test", "DELETE FROM schema_migrations WHERE version = 3")
      // Its ALTERs meet columns that exist, its backfill meets a baseline that exists.
      yield* migrate(client, keyspace)
      assert.deepStrictEqual(yield* stats.counts(day), { users: 4, rooms: 1, messagesToday: 2 })
      assert.deepStrictEqual(
        (yield* rooms.listAll({ after: null, limit: 10 })).items.map((r) => r.id),
        [oldRooms[0]!.id]
      )
    })
  )
})
