import type { RoomId } from "@parley/domain"
import { Duration, Effect, FiberSet, Layer, Option } from "effect"
import { type ClientMsgKey, clientMsgKeyName, Messages } from "../messages.ts"
import { CassandraClient } from "./client.ts"
import { clientIdFilters } from "./client-id-filter.ts"
import { clientIdLookup } from "./client-ids.ts"
import { keyIndexes } from "./key-index.ts"
import { messagePages } from "./message-pages.ts"
import { type LeaseOptions, roomHead } from "./room-head.ts"
import { headStore } from "./room-head-store.ts"
import { searchIndexer, searchLingerMs } from "./search-indexer.ts"
import { messageCounter } from "./totals.ts"

/** At most this long for a stopping process to write the search words it holds. */
const shutdownFlush = Duration.seconds(2)

/**
 * Message history in partitions of at most one `bucketMs`-wide time window
 * (`CASSANDRA_MESSAGE_BUCKET`) each. A partition's key is its first message's time, so every
 * message lies at or after its partition's start and before the next one's, whatever the
 * window size was when it was written (see `room-head.ts` and `cql/005_head_in_partition.cql`).
 * `searchLinger`: ms a commit's rows wait for the next ones before their search words are written
 * (`search-indexer.ts`).
 */
export const CassandraMessages = (bucketMs: number, leases?: LeaseOptions, searchLinger = searchLingerMs) =>
  Layer.effect(
    Messages,
    Effect.gen(function* () {
      const db = yield* CassandraClient
      const pages = messagePages(db)
      // The day's counter is bookkeeping for operators: acks must not wait for it.
      const background = yield* FiberSet.makeRuntime()
      const count = messageCounter(db, background)
      const keys = keyIndexes(db, headStore(db), background)
      const indexer = searchIndexer(db, headStore(db), background, searchLinger)
      // A stopping process writes the words it holds: a restart leaves its successor nothing to write.
      yield* Effect.addFinalizer(() => indexer.flushAll.pipe(Effect.timeout(shutdownFlush), Effect.ignore))
      const head = roomHead(db, bucketMs, leases, keys.ofClaim, indexer)
      // Entries written before `cql/015_keys_in_rows.cql`, and the filter of those a room holds.
      const clientIds = clientIdLookup(db)
      const filters = clientIdFilters(db, background)
      /** Stored messages among `wanted`: in the rows since 015, or in the entries written before. */
      const findKeys = (roomId: RoomId, wanted: ReadonlyArray<ClientMsgKey>, legacy: ReadonlyArray<ClientMsgKey>) =>
        Effect.map(
          Effect.all([keys.find(roomId, wanted), clientIds.many(roomId, legacy)], { concurrency: 2 }),
          ([found, before]) => {
            for (const m of before) found.set(clientMsgKeyName({ userId: m.userId, clientMsgId: m.clientMsgId! }), m)
            return found
          }
        )

      return Messages.of({
        claim: (roomId) =>
          Effect.tap(head.claim(roomId), (claim) =>
            Effect.sync(() => {
              filters.claimed(roomId, claim.epoch)
              keys.claimed(roomId, claim.epoch)
            })
          ),
        release: (roomId, epoch) =>
          Effect.andThen(
            Effect.sync(() => {
              filters.released(roomId, epoch)
              keys.released(roomId, epoch)
            }),
            head.release(roomId, epoch)
          ),
        // The day's counter follows the stored batch (see `totals.ts`), in the background.
        append: (roomId, messages, fence) =>
          messages.length === 0
            ? Effect.void
            : head.append(roomId, messages, fence).pipe(Effect.andThen(Effect.sync(() => count(roomId, messages)))),
        // Checking would take a read per append (a lightweight transaction on the key).
        refusesStoredClientMsgIds: false,
        find: head.find,
        findByClientMsgId: (roomId, userId, clientMsgId) => {
          const key = { userId, clientMsgId }
          return Effect.map(findKeys(roomId, [key], [key]), (found) =>
            Option.fromUndefinedOr(found.get(clientMsgKeyName(key)))
          )
        },
        // Only the room's owner asks, after its claim: what its filter rules out is new.
        findByClientMsgIds: (roomId, wanted) =>
          Effect.map(findKeys(roomId, wanted, filters.mayHold(roomId, wanted)), (found) => [...found.values()]),
        // The head lives in the newest partition: the newest message is the first of the
        // newest window the index lists.
        latest: (roomId) =>
          Effect.map(pages.listBefore(roomId, { before: null, limit: 1 }), (page) => Option.fromUndefinedOr(page[0])),
        listBefore: pages.listBefore,
        listAfter: pages.listAfter
      })
    })
  )
