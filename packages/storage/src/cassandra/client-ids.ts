/**
 * Client-id entries (`room_client_ids`, see `cql/005_head_in_partition.cql`): each room's
 * spread over shard partitions by a hash of (user, client id), so a group commit writes its
 * entries into a few partitions, not one per message, and `findByClientMsgIds` (a room actor
 * looks up a batch's sends at once) goes out as a few queries, side by side, each over a few
 * shards, `shard IN ? AND (user_id, client_msg_id) IN ?`: one read round trip for the batch's
 * retries check. A key may come back twice (below: a claim's repair rewrites into the write
 * shard an entry written before into its own), both naming the same message: found once.
 *
 * Entries are written into `writeShards` (8) of the `clientIdShards` (32) partitions: a group
 * commit of 64 keys wrote into about 27 partitions, each one more mutation for the node to
 * apply, flush and compact, and the entries were a third of what a node spent per message
 * (issue 10). Entries written before went into all 32, so a key is looked for in both its
 * shards: its hash's own (`clientIdShard`) and the write shard that hash falls in (`writeShardOf`).
 *
 * An entry naming its partition (`bucket`, written since 005 beside its batch's commit, which
 * may have been refused, see `room-head.ts`) counts only once its message is found there, and
 * the message is read from there (entries hold no text); entries written before 005 followed
 * their commit, carry the message and are trusted as they are.
 */
import type { RoomId, UserId } from "@parley/domain"
import cassandra from "cassandra-driver"
import { Effect, Option } from "effect"
import { type ClientMsgKey, clientMsgKeyName, distinctClientMsgKeys, type MessageRecord } from "../messages.ts"
import { type CassandraClient, uuid } from "./client.ts"
import { messageColumns, rowsByIds, toMessage } from "./message-rows.ts"

/** Client ids per query: the IN list stays well inside what a coordinator handles at once. */
const idsPerQuery = 128

/** Partitions per room that may hold entries: every one is read by the filter's fill and removed with the room. */
export const clientIdShards = 32

/**
 * Partitions per room written since issue 10: 0, 4, ..., 28. 8 keep a room with 10 million
 * messages sent with a client id at about 1.25 million entries (keys, ids, no text) per
 * partition, and a batch of 128 touching at most 8 partitions.
 */
const writeShards = 8
const shardsPerWriteShard = clientIdShards / writeShards

/** FNV-1a over "user/clientId": stable across processes and versions. */
export const clientIdShard = (userId: string, clientMsgId: string) => {
  let hash = 0x811c9dc5
  const key = `${userId}/${clientMsgId}`
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash % clientIdShards
}

/** The partition an entry is written to: the first of the four that `clientIdShard`'s value falls among. */
export const writeShardOf = (userId: string, clientMsgId: string) => {
  const shard = clientIdShard(userId, clientMsgId)
  return shard - (shard % shardsPerWriteShard)
}

const keyOf = (row: cassandra.types.Row) => `${row.get("user_id")}/${row.get("client_msg_id")}`

const chunks = <A>(xs: ReadonlyArray<A>, size: number) =>
  Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size))

export const clientIdLookup = (db: CassandraClient["Service"]) => {
  /** The entries stored for one room among `keys` (user, client id), checked against their partitions. */
  const lookup = Effect.fnUntraced(function* (
    roomId: RoomId,
    keys: ReadonlyArray<{ readonly userId: UserId; readonly clientMsgId: string }>
  ) {
    // Keys grouped by write shard, one query per group: it names the write shard and the
    // keys' own shards among its four (`shard IN ?` looks every key up in every shard named, so
    // at most four reads a key). One query over every shard would be 32 reads a key.
    const byWriteShard = new Map<number, Array<{ readonly userId: UserId; readonly clientMsgId: string }>>()
    for (const k of keys) {
      const shard = writeShardOf(k.userId, k.clientMsgId)
      const group = byWriteShard.get(shard)
      if (group === undefined) byWriteShard.set(shard, [k])
      else group.push(k)
    }
    const rows = (yield* Effect.forEach(
      [...byWriteShard].flatMap(([shard, some]) => chunks(some, idsPerQuery).map((keys) => ({ shard, keys }))),
      ({ shard, keys: some }) =>
        db.execute(
          "messages.findByClientMsgId",
          `SELECT ${messageColumns}, bucket FROM room_client_ids WHERE room_id = ? AND shard IN ? AND (user_id, client_msg_id) IN ?`,
          [
            uuid(roomId),
            [...new Set([shard, ...some.map((k) => clientIdShard(k.userId, k.clientMsgId))])],
            some.map((k) => new cassandra.types.Tuple(uuid(k.userId), k.clientMsgId))
          ]
        ),
      { concurrency: "unbounded" }
    )).flatMap((rs) => rs.rows)
    const found = new Map<string, MessageRecord>()
    const byBucket = new Map<number, Array<cassandra.types.Row>>()
    for (const row of rows) {
      const bucket = (row.get("bucket") as Date | null)?.getTime()
      if (bucket === undefined) found.set(keyOf(row), toMessage(roomId, row))
      else byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), row])
    }
    // Entries written since 005 hold no text: the message is read from the partition they
    // name, which is also the proof that their batch was committed.
    yield* Effect.forEach(
      byBucket,
      ([bucket, candidates]) =>
        Effect.map(
          rowsByIds(
            db,
            "messages.findByClientMsgId.check",
            roomId,
            bucket,
            candidates.map((row) => row.get("msg_id"))
          ),
          (rows) => {
            const stored = new Map(
              rows.filter((row) => row.get("seq") !== null).map((row) => [row.get("msg_id").toString(), row] as const)
            )
            for (const entry of candidates) {
              const row = stored.get(entry.get("msg_id").toString())
              if (row !== undefined) found.set(keyOf(entry), toMessage(roomId, row))
            }
          }
        ),
      { concurrency: "unbounded", discard: true }
    )
    return found
  })

  return {
    many: (roomId: RoomId, keys: ReadonlyArray<ClientMsgKey>) =>
      keys.length === 0
        ? Effect.succeed([])
        : Effect.map(lookup(roomId, distinctClientMsgKeys(keys)), (found) => [...found.values()]),
    one: (roomId: RoomId, userId: UserId, clientMsgId: string) =>
      Effect.map(lookup(roomId, [{ userId, clientMsgId }]), (found) =>
        Option.fromUndefinedOr(found.get(clientMsgKeyName({ userId, clientMsgId })))
      )
  }
}
