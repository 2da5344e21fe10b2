import { type RoomId, timeUuidMicros, type UserId } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Effect, Option } from "effect"
import { StorageError } from "../errors.ts"
import type { RoomRecord } from "../rooms.ts"
import { type CassandraClient, serialRead, uuid } from "./client.ts"
import { clientIdShards } from "./client-ids.ts"
import { deletePairRow, directColumns, directOf } from "./direct-rooms.ts"
import { type LeaseOptions, roomHead } from "./room-head.ts"
import { bumpTotal } from "./totals.ts"

type Db = CassandraClient["Service"]

/** The listings' single partition, as in `rooms.ts`. */
const directory = 0

/** Rows read per step when walking a room's members or message windows. */
const stepRows = 200

/**
 * Runs `f` on every row of one partition, `stepRows` at a time, in clustering order.
 * `query(after)` selects the rows after the clustering key `key(row)` when `after` is set.
 */
const eachRow = (
  db: Db,
  operation: string,
  walk: {
    readonly query: (after: boolean) => string
    readonly partition: ReadonlyArray<unknown>
    readonly key: (row: cassandra.types.Row) => unknown
    readonly concurrency: number
  },
  f: (row: cassandra.types.Row) => Effect.Effect<unknown, StorageError>
) =>
  Effect.gen(function* () {
    let last: cassandra.types.Row | null = null
    while (true) {
      const params = last === null ? walk.partition : [...walk.partition, walk.key(last)]
      const rows: Array<cassandra.types.Row> = (yield* db.executeUnguarded(operation, walk.query(last !== null), [
        ...params,
        stepRows
      ])).rows
      yield* Effect.forEach(rows, f, { concurrency: walk.concurrency, discard: true })
      if (rows.length < stepRows) return
      last = rows.at(-1)!
    }
  })

/** Every member of the room: one partition of `room_members`. */
const eachMember = (
  db: Db,
  operation: string,
  roomId: RoomId,
  f: (userId: UserId) => Effect.Effect<unknown, StorageError>
) =>
  eachRow(
    db,
    operation,
    {
      query: (after) => `SELECT user_id FROM room_members WHERE room_id = ?${after ? " AND user_id > ?" : ""} LIMIT ?`,
      partition: [uuid(roomId)],
      key: (row) => row.get("user_id"),
      concurrency: 16
    },
    (row) => f(row.get("user_id").toString() as UserId)
  )

/**
 * Archives a room: the room row first, since it is what decides whether a message is
 * accepted, then the copies in the listings and in each member's `rooms_by_user`. A repeat
 * finishes an archive that failed halfway. An UPDATE racing a delete may recreate a bare
 * copy the delete had removed; readers skip rows without a name.
 */
export const archiveRoom = (db: Db, get: (id: RoomId) => Effect.Effect<Option.Option<RoomRecord>, StorageError>) =>
  Effect.fn("Rooms.archive")(function* (id: RoomId) {
    const room = yield* get(id)
    if (Option.isNone(room)) return false
    const rid = uuid(id)
    yield* db.execute("rooms.archive", "UPDATE rooms SET archived = true WHERE room_id = ?", [rid])
    yield* db.batch("rooms.archive.listings", [
      { query: "UPDATE all_rooms SET archived = true WHERE directory = ? AND room_id = ?", params: [directory, rid] },
      ...(room.value.visibility === "public"
        ? [
            {
              query: "UPDATE public_rooms SET archived = true WHERE directory = ? AND room_id = ?",
              params: [directory, rid]
            }
          ]
        : [])
    ])
    yield* eachMember(db, "rooms.archive.members", id, (userId) =>
      db.executeUnguarded(
        "rooms.archive.copy",
        "UPDATE rooms_by_user SET archived = true WHERE user_id = ? AND room_id = ?",
        [uuid(userId), rid]
      )
    )
    return true
  })

/** Attempts at taking the head away while its owner keeps moving it. */
const headRemovalAttempts = 20

/**
 * Takes the room's head away through an LWT, as every write to it is one (a plain delete next
 * to Paxos rounds could be ordered before one still in flight): from then on every fenced
 * append to the room is refused, since its condition finds no head. Read at SERIAL, so the
 * head seen is the newest commit, whose batch's rows are the newest the room can get.
 * Returns the write timestamp (microseconds) just after that newest message, 0 if none.
 */
const removeHead = (db: Db, rid: cassandra.types.Uuid) =>
  Effect.gen(function* () {
    for (let attempt = 1; ; attempt++) {
      const head = (yield* db.execute(
        "rooms.delete.head",
        "SELECT epoch, last_seq, last_msg_id FROM room_heads WHERE room_id = ?",
        [rid],
        serialRead
      )).first()
      if (head === null || head === undefined) return 0
      const removed = yield* db.execute(
        "rooms.delete.head",
        "DELETE FROM room_heads WHERE room_id = ? IF epoch = ? AND last_seq = ?",
        [rid, head.get("epoch"), head.get("last_seq")]
      )
      if (removed.wasApplied()) {
        const last = head.get("last_msg_id")
        return last ? timeUuidMicros(last.toString()) + 1 : 0
      }
      if (attempt >= headRemovalAttempts) {
        return yield* new StorageError({
          operation: "rooms.delete.head",
          cause: new Error(`the room's head moved during each of ${headRemovalAttempts} attempts`)
        })
      }
    }
  })

/**
 * Deletes a room and everything stored under it. The room is first marked `deleting` by an
 * LWT, which reads as gone at once and lets exactly one delete take it off the `rooms` total.
 * A direct room's pair row goes next (`direct-rooms.ts`). Then, each step idempotent and each finding its rows through what the next steps remove:
 * the listings; each member's `rooms_by_user` row (found in `room_members`), then
 * `room_members`; each message window (found in `room_buckets`), first the
 * `room_messages_by_client_id` copies of its messages (found in the window, whose rows name
 * their sender and client id), then the window itself; then `room_buckets`; the room row last.
 * The head (`room_heads`) goes first, before the history, so that no append lands after it. A delete that failed halfway finds the room row still there, so
 * repeating it finishes the job.
 */
/** `leases`: the deployment's, so that the deletion's claim waits another node's lease out as an actor's would. */
export const deleteRoom = (db: Db, leases: LeaseOptions) =>
  Effect.fn("Rooms.delete")(function* (id: RoomId) {
    const rid = uuid(id)
    const row = (yield* db.execute(
      "rooms.delete.read",
      `SELECT name, deleting, ${directColumns} FROM rooms WHERE room_id = ?`,
      [rid]
    )).first()
    if (row === null || row === undefined || row.get("name") === null) return false
    if (row.get("deleting") !== true) {
      const marked = yield* db.execute(
        "rooms.delete.mark",
        "UPDATE rooms SET deleting = true WHERE room_id = ? IF name != null AND deleting = null",
        [rid]
      )
      // Not applied: a concurrent delete marked it first and counts it; finishing is still safe.
      if (marked.wasApplied()) yield* bumpTotal(db, "rooms", -1)
    }
    // A direct room's pair stops naming it, so the two users' next request makes a new one.
    const { direct } = directOf(row)
    if (direct !== undefined) yield* deletePairRow(db, id, direct)
    yield* db.batch("rooms.delete.listings", [
      { query: "DELETE FROM all_rooms WHERE directory = ? AND room_id = ?", params: [directory, rid] },
      { query: "DELETE FROM public_rooms WHERE directory = ? AND room_id = ?", params: [directory, rid] }
    ])
    yield* eachMember(db, "rooms.delete.members", id, (userId) =>
      db.executeUnguarded("rooms.delete.copy", "DELETE FROM rooms_by_user WHERE user_id = ? AND room_id = ?", [
        uuid(userId),
        rid
      ])
    )
    yield* db.execute("rooms.delete.members", "DELETE FROM room_members WHERE room_id = ?", [rid])
    // Since 005 the live head is in the newest partition: a claim fences it (every running
    // actor is deposed), then the root goes as before.
    yield* roomHead(db, 1, leases).claim(id)
    const newest = yield* removeHead(db, rid)
    // Appends are timestamped by their newest message id (room-head.ts), which the writing
    // node's clock may have put ahead of this one: a tombstone older than a write would not
    // delete it. The removed head held the newest id, so the history's tombstones come after it.
    const tombstones = { timestamp: Math.max(Date.now() * 1000, newest) }
    // A window's messages name their client-id entries, which go first: a delete that stops
    // halfway still finds the rest through the window when it is repeated. A few windows at
    // a time, each with up to 16 entry deletes in flight.
    yield* eachRow(
      db,
      "rooms.delete.buckets",
      {
        query: (after) => `SELECT bucket FROM room_buckets WHERE room_id = ?${after ? " AND bucket < ?" : ""} LIMIT ?`,
        partition: [rid],
        key: (row) => row.get("bucket"),
        concurrency: 4
      },
      (window) =>
        Effect.andThen(
          eachRow(
            db,
            "rooms.delete.clientIds",
            {
              query: (after) =>
                `SELECT msg_id, user_id, client_msg_id FROM room_messages WHERE room_id = ? AND bucket = ?${
                  after ? " AND msg_id < ?" : ""
                } LIMIT ?`,
              partition: [rid, window.get("bucket")],
              key: (row) => row.get("msg_id"),
              concurrency: 16
            },
            (message) =>
              message.get("client_msg_id") === null
                ? Effect.void
                : db.executeUnguarded(
                    "rooms.delete.clientId",
                    "DELETE FROM room_messages_by_client_id WHERE room_id = ? AND user_id = ? AND client_msg_id = ?",
                    [rid, message.get("user_id"), message.get("client_msg_id")],
                    tombstones
                  )
          ),
          // A partition with a head (005) was written by LWTs, timestamped by Paxos on the
          // coordinator's clock, and its search words by a batch that may follow its last commit
          // (`terms_through`, 016): its tombstone goes past the newest of them.
          Effect.flatMap(
            db.executeUnguarded(
              "rooms.delete.messages",
              "SELECT WRITETIME(epoch) AS e, WRITETIME(last_seq) AS s, WRITETIME(next_bucket) AS n, WRITETIME(terms_through) AS t FROM room_messages WHERE room_id = ? AND bucket = ? LIMIT 1",
              [rid, window.get("bucket")]
            ),
            (rs) => {
              const row = rs.first()
              const written = ["e", "s", "n", "t"].map(
                (c) => (row?.get(c) as cassandra.types.Long | null | undefined)?.toNumber() ?? 0
              )
              return db.executeUnguarded(
                "rooms.delete.messages",
                "DELETE FROM room_messages WHERE room_id = ? AND bucket = ?",
                [rid, window.get("bucket")],
                { timestamp: Math.max(tombstones.timestamp, ...written.map((w) => w + 1)) }
              )
            }
          )
        )
    )
    // Client-id entries since 005: the room's shard partitions, whole (entries of refused
    // batches included, which no window names).
    yield* Effect.forEach(
      Array.from({ length: clientIdShards }, (_, shard) => shard),
      (shard) =>
        db.executeUnguarded(
          "rooms.delete.clientIds",
          "DELETE FROM room_client_ids WHERE room_id = ? AND shard = ?",
          [rid, shard],
          tombstones
        ),
      { concurrency: 8, discard: true }
    )
    yield* db.executeUnguarded("rooms.delete.history", "DELETE FROM room_buckets WHERE room_id = ?", [rid], tombstones)
    // A claim made meanwhile (an actor that was already running) may have recreated the head.
    yield* db.executeUnguarded("rooms.delete.head.again", "DELETE FROM room_heads WHERE room_id = ? IF EXISTS", [rid])
    yield* db.execute("rooms.delete", "DELETE FROM rooms WHERE room_id = ?", [rid])
    return true
  })
