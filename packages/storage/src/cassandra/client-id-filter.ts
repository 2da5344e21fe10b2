/**
 * Which of the client-id entries written before `cql/015_keys_in_rows.cql` (`room_client_ids`) a
 * room MAY hold, so that a room actor's group commit asks Cassandra only about those: a sender's
 * key, nearly every key, is known to be in no entry without a read. Since 015 no entry is written
 * (a room's newer keys are in its rows, `key-index.ts`), so the entries a room holds are fixed.
 *
 * A room's filter belongs to the claim that built it, in this process: `claimed` starts it
 * empty for the claim's epoch (a later epoch replaces it, an earlier one never does) and fills
 * it in the background from every entry stored (all shards). Until the read has finished, or if
 * it failed or the room holds more than `maxKeys` entries, every key is looked up. A key the
 * filter lacks is in no entry. A key the filter holds may be a false positive (under 1 in 50):
 * it is looked up. `released` drops a claim's filter when its actor stops (the next claim builds
 * its own), so only running rooms keep one.
 */
import type { RoomId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Deferred, Effect, Exit, Semaphore } from "effect"
import { type ClientMsgKey, clientMsgKeyName } from "../messages.ts"
import { type CassandraClient, uuid } from "./client.ts"
import { clientIdShards } from "./client-ids.ts"

/** Above this many stored keys, a room keeps being looked up (its filter would pass ~6 MB). */
export const maxKeys = 2_000_000

/** Rooms whose filters are kept (and rooms known too large); the least recently claimed go. */
const maxRooms = 10_000

/** Fills running at once in a process: a node taking many rooms over reads them a few at a time. */
const fillsAtOnce = 4

/**
 * False positives of the first filter; each next one, twice as large, halves it, so that
 * however many a room needs, a new key passes them all at under twice this rate.
 */
const firstFalsePositives = 0.01

/** FNV-1a over `key` from `seed`, mixed so that keys differing in their last characters spread too. */
export const hash32 = (key: string, seed: number) => {
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

/** A Bloom filter for up to `capacity` keys at `falsePositives`; `full` once it holds that many. */
class Bloom {
  readonly capacity: number
  readonly falsePositives: number
  private readonly bits: Uint32Array
  private readonly size: number
  private readonly hashes: number
  private count = 0
  constructor(capacity: number, falsePositives: number) {
    this.capacity = capacity
    this.falsePositives = falsePositives
    // The textbook optimum: ln(1/p) / ln(2)² bits a key, log2(1/p) hashes.
    this.size = Math.max(64, Math.ceil((capacity * Math.log(1 / falsePositives)) / Math.LN2 ** 2))
    this.hashes = Math.max(1, Math.round(Math.log2(1 / falsePositives)))
    this.bits = new Uint32Array(Math.ceil(this.size / 32))
  }
  /** Double hashing: the key's `i`th bit is h1 + i·h2 (both from `hashesOf`, computed once per key). */
  add(h1: number, h2: number) {
    for (let i = 0; i < this.hashes; i++) {
      const p = ((h1 + Math.imul(i, h2)) >>> 0) % this.size
      this.bits[p >>> 5]! |= 1 << (p & 31)
    }
    this.count++
  }
  has(h1: number, h2: number) {
    for (let i = 0; i < this.hashes; i++) {
      const p = ((h1 + Math.imul(i, h2)) >>> 0) % this.size
      if ((this.bits[p >>> 5]! & (1 << (p & 31))) === 0) return false
    }
    return true
  }
  get full() {
    return this.count >= this.capacity
  }
}

/** A key's two hashes, shared by every filter it is put in or looked for in. */
const hashesOf = (key: string) => [hash32(key, 0x811c9dc5), hash32(key, 0x01000193) | 1] as const

/**
 * Filters that grow: a new one, twice as large, once the newest is full. Keys go in as strings
 * or, where only a hash of them is kept (`key-chunks.ts`), as their two hashes.
 */
export class Keys {
  private readonly layers = [new Bloom(1024, firstFalsePositives)]
  private total = 0
  addHashes(h1: number, h2: number) {
    const last = this.layers.at(-1)!
    if (last.full) this.layers.push(new Bloom(last.capacity * 2, last.falsePositives / 2))
    this.layers.at(-1)!.add(h1, h2)
    this.total++
  }
  hasHashes(h1: number, h2: number) {
    return this.layers.some((layer) => layer.has(h1, h2))
  }
  add(key: string) {
    this.addHashes(...hashesOf(key))
  }
  has(key: string) {
    return this.hasHashes(...hashesOf(key))
  }
  get size() {
    return this.total
  }
}

interface RoomKeys {
  /** The claim's epoch. */
  readonly epoch: number
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
  /** Rooms found past `maxKeys` (keys are never removed): no fill reads them again. */
  const tooLarge = new Set<RoomId>()
  const fills = Semaphore.makeUnsafe(fillsAtOnce)

  /** The newest of a bounded set, by use. */
  const keep = <A>(set: Map<RoomId, A> | Set<RoomId>) => {
    if (set.size > maxRooms) set.delete(set.keys().next().value!)
  }

  /**
   * Every key stored in the room, all shards, into `state`: true once done, false past
   * `maxKeys`, or when a later claim's filter replaced this one (its fill stops reading).
   */
  const fill = Effect.fnUntraced(function* (roomId: RoomId, state: RoomKeys) {
    for (let shard = 0; shard < clientIdShards; shard++) {
      let pageState: string | undefined
      do {
        if (rooms.get(roomId) !== state) return false
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
        if (state.keys.size > maxKeys) {
          tooLarge.add(roomId)
          keep(tooLarge)
          return false
        }
        pageState = rs.pageState ?? undefined
      } while (pageState !== undefined)
    }
    return true
  })

  return {
    /**
     * A claim on the room, with its epoch: a new filter, filled in the background, unless a
     * later claim's is already here (two actors of the room in this process, whose claims
     * returned out of order: the earlier one is fenced and its filter would miss the later
     * owner's keys).
     */
    claimed: (roomId: RoomId, epoch: number) => {
      const current = rooms.get(roomId)
      if (current !== undefined && current.epoch > epoch) return
      rooms.delete(roomId)
      if (tooLarge.has(roomId)) return
      const state: RoomKeys = { epoch, keys: new Keys(), ready: false, filled: Deferred.makeUnsafe<boolean>() }
      rooms.set(roomId, state)
      keep(rooms)
      run(
        fills
          .withPermits(1)(fill(roomId, state))
          .pipe(
            // A failed read: this claim keeps looking every key up.
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
    /** The claim of `epoch` is done with the room here: its filter goes (its fill stops); a later claim's stays. */
    released: (roomId: RoomId, epoch: number) => {
      if (rooms.get(roomId)?.epoch === epoch) rooms.delete(roomId)
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
