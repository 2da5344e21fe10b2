import cassandra from "cassandra-driver"
import { usernameKey } from "../users.ts"
import { clientIdShard } from "./client-ids.ts"
import type { MigrationHook } from "./migrate.ts"
import { qualify } from "./qualify.ts"
import { indexStoredMessages011 } from "./search-backfill.ts"
import { utcDayKey } from "./totals.ts"

/**
 * Migration 003's backfill: directory rows for the users and rooms stored before the
 * directories existed, and the totals counted in them. It scans whole tables, which is fine
 * here and nowhere else: no request waits on it, and it runs once per keyspace.
 *
 * Safe to repeat and to run on two starting nodes at once:
 * - a directory row is written with the write time of the row it copies, so a later delete
 *   or archive of that user or room (newer timestamps) always wins over it;
 * - the totals go into `totals_baseline` with IF NOT EXISTS: the first scan to finish wins,
 *   and it finished before any node served a request with the new code (a node serves only
 *   after its own migration, which ends with this insert or loses to it), so no later
 *   counter increment is also in the baseline.
 */
const backfill003: MigrationHook = async (client, keyspace) => {
  const q = (query: string) => qualify(keyspace, query)
  const options = { prepare: true }

  let users = 0
  await scan(client, q("SELECT id, username, WRITETIME(username) AS written FROM users"), async (row) => {
    const username = row.get("username") as string | null
    if (username === null) return
    users++
    await client.execute(
      q("INSERT INTO user_directory (directory, username_key, user_id) VALUES (0, ?, ?) USING TIMESTAMP ?"),
      [usernameKey(username), row.get("id"), row.get("written")],
      options
    )
  })

  let rooms = 0
  await scan(
    client,
    q("SELECT room_id, name, visibility, created_by, created_at, WRITETIME(name) AS written FROM rooms"),
    async (row) => {
      if (row.get("name") === null) return
      rooms++
      await client.execute(
        q(`INSERT INTO all_rooms (directory, room_id, name, visibility, created_by, created_at)
          VALUES (0, ?, ?, ?, ?, ?) USING TIMESTAMP ?`),
        ["room_id", "name", "visibility", "created_by", "created_at", "written"].map((c) => row.get(c)),
        options
      )
    }
  )

  const messagesPerDay: Record<string, number> = {}
  await scan(client, q("SELECT created_at FROM room_messages"), (row) => {
    const at = row.get("created_at") as Date | null
    if (at === null) return
    const day = utcDayKey(at.getTime())
    messagesPerDay[day] = (messagesPerDay[day] ?? 0) + 1
  })

  await client.execute(
    q(`INSERT INTO totals_baseline (scope, users, rooms, messages_per_day, taken_at)
      VALUES (0, ?, ?, ?, ?) IF NOT EXISTS`),
    [
      cassandra.types.Long.fromNumber(users),
      cassandra.types.Long.fromNumber(rooms),
      Object.fromEntries(Object.entries(messagesPerDay).map(([d, n]) => [d, cassandra.types.Long.fromNumber(n)])),
      new Date()
    ],
    options
  )
}

/**
 * Migration 005's copy: every client-id entry of `room_messages_by_client_id` into
 * `room_client_ids` (its room's shard partition), with its original write time, so a later
 * delete of the room wins over it, and without a bucket: those entries followed their
 * commits, and a lookup trusts them as they are. Safe to repeat (same keys, same values, same
 * timestamps).
 */
const copyClientIds005: MigrationHook = async (client, keyspace) => {
  const q = (query: string) => qualify(keyspace, query)
  await scan(
    client,
    q(
      "SELECT room_id, user_id, client_msg_id, msg_id, seq, username, content, created_at, WRITETIME(msg_id) AS written FROM room_messages_by_client_id"
    ),
    async (row) => {
      await client.execute(
        q(`INSERT INTO room_client_ids (room_id, shard, user_id, client_msg_id, msg_id, seq, username, content, created_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`),
        [
          row.get("room_id"),
          clientIdShard(row.get("user_id").toString(), row.get("client_msg_id")),
          ...["user_id", "client_msg_id", "msg_id", "seq", "username", "content", "created_at", "written"].map((c) =>
            row.get(c)
          )
        ],
        { prepare: true }
      )
    }
  )
}

/** Every row of a query, page by page, at most `parallel` rows handled at a time. */
const scan = async (
  client: cassandra.Client,
  query: string,
  onRow: (row: cassandra.types.Row) => Promise<void> | void,
  parallel = 32
) => {
  let pageState: string | undefined
  do {
    const rs = await client.execute(query, [], { prepare: true, fetchSize: 500, ...(pageState ? { pageState } : {}) })
    for (let i = 0; i < rs.rows.length; i += parallel) {
      await Promise.all(rs.rows.slice(i, i + parallel).map(onRow))
    }
    pageState = rs.pageState ?? undefined
  } while (pageState !== undefined)
}

/** The code steps of migrations, by version. */
export const migrationHooks: ReadonlyMap<number, MigrationHook> = new Map([
  [3, backfill003],
  [5, copyClientIds005],
  // 008's term index is replaced by 011's words in the rows (its hook covers every stored message) and dropped by 012.
  [11, indexStoredMessages011]
])
