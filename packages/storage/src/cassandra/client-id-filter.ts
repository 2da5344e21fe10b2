/**
 * Which retry keys (user, client id) a room MAY hold, so that a room actor's group commit asks
 * Cassandra only about those: a sender's new key, nearly every key, is known to be new without
 * a read. Reading the client-id entries of every send costs a Cassandra node about as much as
 * writing them (BENCHMARKS.md, "Retry keys checked in memory").
 *
 * A room's filter belongs to the claim that built it, in this process. `claimed` starts it
 * empty and fills it in the background from every entry stored (`room_client_ids`, all shards,
 * read after the claim, so also the entries the claim repaired); `adding` puts each key in it
 * BEFORE the append that stores it is sent, so an append whose outcome is unknown is counted
 * too. Until the read has finished, or if it failed or the room holds more keys than
 * `maxKeys`, every key is looked up as before. A key the filter lacks was stored by no
 * one before the claim and by this claim's owner not at all; only another owner's claim since
 * could have stored it, and that claim fences every later write of this one, so the key can
 * never be stored twice. A key the filter holds may be a false positive (about 1 in 100): it is
 * looked up.
 */
import type { RoomId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Deferred, Effect, Exit } from "effect"
import { type ClientMsgKey, clientMsgKeyName } from "../messages.ts"
import { type CassandraClient, uuid } from "./client.ts"
import { clientIdShards } from "./client-ids.ts"

/** Above this many stored keys, a room keeps being looked up (its filter would pass ~2.4 MB). */
export const maxKeys = 2_000_000

/** Rooms whose filters are kept; the least recently claimed beyond it are looked up again. */
const maxRooms = 10_000

/** Hashes per key: the best count for a 1 % false-positive rate at 9.6 bits a key. */
const hashes = 7
const bitsPerKey = 9.6

const fnv1a = (key: string, seed: number) => {
  let hash = seed
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  // A final mix, so that keys differing in their last characters spread over the whole range.
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b) >>> 0
  hash ^= hash >>> 13
  return hash >>> 0
}

/** A Bloom filter for up to `capacity` keys; `full` once it holds that many. */
class Bloom {
  readonly capacity: number
  private readonly bits: Uint32Array
  private readonly size: number
  private count = 0
  constructor(capacity: number) {
    this.capacity = capacity
    this.size = Math.max(64, Math.ceil(capacity * bitsPerKey))
    this.bits = new Uint32Array(Math.ceil(this.size / 32))
  }
  private positions(key: string) {
    const h1 = fnv1a(key, 0x811c9dc5)
    const h2 = fnv1a(key, 0x01000193) | 1
    return Array.from({ length: hashes }, (_, i) => ((h1 + Math.imul(i, h2)) >>> 0) % this.size)
  }
  add(key: string) {
    for (const p of this.positions(key)) this.bits[p >>> 5]! |= 1 << (p & 31)
    this.count++
  }
  has(key: string) {
    return this.positions(key).every((p) => (this.bits[p >>> 5]! & (1 << (p & 31))) !== 0)
  }
  get full() {
    return this.count >= this.capacity
  }
}

/** Filters that grow: a new one, twice as large, once the newest is full. */
class Keys {
  private readonly layers = [new Bloom(1024)]
  private total = 0
  add(key: string) {
    if (this.layers.at(-1)!.full) this.layers.push(new Bloom(this.layers.at(-1)!.capacity * 2))
    this.layers.at(-1)!.add(key)
    this.total++
  }
  has(key: string) {
    return this.layers.some((layer) => layer.has(key))
  }
  get size() {
    return this.total
  }
}

interface RoomKeys {
  readonly keys: Keys
  ready: boolean
  /** Whether the fill completed (false: failed or too many keys, so every key is looked up). */
  readonly filled: Deferred.Deferred<boolean>
}

export const clientIdFilters = (
  db: CassandraClient["Service"],
  run: (effect: Effect.Effect<void>) => unknown,
  pageSize = 5000
) => {
  const rooms = new Map<RoomId, RoomKeys>()

  /** Every key stored in the room, all shards, into `state` (given up past `maxKeys`). */
  const fill = Effect.fnUntraced(function* (roomId: RoomId, state: RoomKeys) {
    for (let shard = 0; shard < clientIdShards; shard++) {
      let pageState: string | undefined
      do {
        const rs: cassandra.types.ResultSet = yield* db.execute(
          "messages.clientIdFilter",
          "SELECT user_id, client_msg_id FROM room_client_ids WHERE room_id = ? AND shard = ?",
          [uuid(roomId), shard],
          { fetchSize: pageSize, ...(pageState === undefined ? {} : { pageState }) }
        )
        for (const row of rs.rows) {
          state.keys.add(
            clientMsgKeyName({ userId: row.get("user_id").toString(), clientMsgId: row.get("client_msg_id") })
          )
        }
        if (state.keys.size > maxKeys) return false
        pageState = rs.pageState ?? undefined
      } while (pageState !== undefined)
    }
    return true
  })

  return {
    /** A new claim on the room: a new filter, filled in the background. */
    claimed: (roomId: RoomId) => {
      const state: RoomKeys = { keys: new Keys(), ready: false, filled: Deferred.makeUnsafe<boolean>() }
      rooms.delete(roomId)
      rooms.set(roomId, state)
      if (rooms.size > maxRooms) rooms.delete(rooms.keys().next().value!)
      run(
        fill(roomId, state).pipe(
          // A room too large, or a failed read: this claim keeps looking every key up.
          Effect.orElseSucceed(() => false),
          Effect.flatMap((complete) =>
            Effect.sync(() => {
              if (complete) state.ready = true
              else if (rooms.get(roomId) === state) rooms.delete(roomId)
              Deferred.doneUnsafe(state.filled, Exit.succeed(complete))
            })
          )
        )
      )
    },
    /** Keys about to be stored (before their append is sent). */
    adding: (roomId: RoomId, keys: ReadonlyArray<ClientMsgKey>) => {
      const state = rooms.get(roomId)
      if (state !== undefined) for (const key of keys) state.keys.add(clientMsgKeyName(key))
    },
    /** Waits for the room's latest fill: whether its filter is in use (false without one). */
    filled: (roomId: RoomId) => {
      const state = rooms.get(roomId)
      return state === undefined ? Effect.succeed(false) : Deferred.await(state.filled)
    },
    /** The keys that must be looked up: all of them unless the room's filter is ready. */
    mayHold: <K extends ClientMsgKey>(roomId: RoomId, keys: ReadonlyArray<K>): ReadonlyArray<K> => {
      const state = rooms.get(roomId)
      return state === undefined || !state.ready ? keys : keys.filter((key) => state.keys.has(clientMsgKeyName(key)))
    }
  }
}
