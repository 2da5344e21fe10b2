import { Effect, FiberSet, Layer, Option } from "effect"
import { Messages } from "../messages.ts"
import { CassandraClient } from "./client.ts"
import { clientIdFilters } from "./client-id-filter.ts"
import { clientIdLookup } from "./client-ids.ts"
import { messagePages } from "./message-pages.ts"
import { type LeaseOptions, roomHead } from "./room-head.ts"
import { messageCounter } from "./totals.ts"

/**
 * Message history in partitions of at most one `bucketMs`-wide time window
 * (`CASSANDRA_MESSAGE_BUCKET`) each. A partition's key is its first message's time, so every
 * message lies at or after its partition's start and before the next one's, whatever the
 * window size was when it was written (see `room-head.ts` and `cql/005_head_in_partition.cql`).
 */
export const CassandraMessages = (bucketMs: number, leases?: LeaseOptions) =>
  Layer.effect(
    Messages,
    Effect.gen(function* () {
      const db = yield* CassandraClient
      const pages = messagePages(db)
      // The day's counter is bookkeeping for operators: acks must not wait for it.
      const background = yield* FiberSet.makeRuntime()
      const count = messageCounter(db, background)
      const head = roomHead(db, bucketMs, leases)
      const clientIds = clientIdLookup(db)
      const filters = clientIdFilters(db, background)

      return Messages.of({
        claim: (roomId) =>
          Effect.tap(head.claim(roomId), (claim) => Effect.sync(() => filters.claimed(roomId, claim.epoch))),
        release: (roomId, epoch) =>
          Effect.andThen(
            Effect.sync(() => filters.released(roomId, epoch)),
            head.release(roomId, epoch)
          ),
        // The day's counter follows the stored batch (see `totals.ts`), in the background.
        append: (roomId, messages, fence) =>
          messages.length === 0
            ? Effect.void
            : Effect.suspend(() => {
                filters.adding(
                  roomId,
                  messages.flatMap((m) =>
                    m.clientMsgId === null ? [] : [{ userId: m.userId, clientMsgId: m.clientMsgId }]
                  )
                )
                return head.append(roomId, messages, fence)
              }).pipe(Effect.andThen(Effect.sync(() => count(roomId, messages)))),
        find: head.find,
        findByClientMsgId: clientIds.one,
        // Only the room's owner asks, after its claim: what its filter rules out is new.
        findByClientMsgIds: (roomId, keys) => clientIds.many(roomId, filters.mayHold(roomId, keys)),
        // The head lives in the newest partition: the newest message is the first of the
        // newest window the index lists.
        latest: (roomId) =>
          Effect.map(pages.listBefore(roomId, { before: null, limit: 1 }), (page) => Option.fromUndefinedOr(page[0])),
        listBefore: pages.listBefore,
        listAfter: pages.listAfter
      })
    })
  )
