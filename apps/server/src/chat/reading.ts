/**
 * Read markers and unread counts (issue 12 §2): what a room list shows of each room besides
 * its record, and moving a member's marker. Unread is computed, never counted by scanning:
 * the room's head `seq` (its newest stream entry's) minus the member's marker. Edits and
 * deletes are stream entries with seqs of their own, so they count as unread activity.
 */
import { type MemberRole, type MessageId, NotMember, ReadMarker, type RoomId, type UserId } from "@parley/domain"
import type { MessageRecord, Messages, Rooms } from "@parley/storage"
import { Effect, Option } from "effect"
import type { Revocations } from "../realtime/revocations.ts"
import { type RoomReading, toMessageView } from "../views/chat.ts"

/** A room's head `seq` and its newest message (not an edit or delete entry), or null when empty. */
export interface RoomHead {
  readonly seq: number
  readonly lastMessage: MessageRecord | null
}

/**
 * Entries read in the first look at a room's newest ones: enough, unless the newest ones are
 * a run of edits and deletes, when pages of `further` follow until a message shows up.
 */
const firstLook = 4
const further = 32

/**
 * The head and last message in one read of the newest entries (on Cassandra: the bucket index
 * and the newest partition). A message row holds its current state (edits update it in
 * place), so the message found is shown as it is now.
 */
export const roomHead = Effect.fnUntraced(function* (messages: Messages["Service"], roomId: RoomId) {
  let page = yield* messages.listBefore(roomId, { before: null, limit: firstLook })
  const seq = page[0]?.seq ?? 0
  let limit = firstLook
  for (;;) {
    const found = page.find((entry) => entry.kind === "message")
    if (found !== undefined) return { seq, lastMessage: found } satisfies RoomHead
    if (page.length < limit) return { seq, lastMessage: null } satisfies RoomHead
    const before: MessageId = page.at(-1)!.id
    limit = further
    page = yield* messages.listBefore(roomId, { before, limit })
  }
})

/** A member's reading of a room from its head and their marker; `readSeq` null: not a member (0 / 0). */
export const readingOf = (head: RoomHead, readSeq: number | null): RoomReading => ({
  unread: readSeq === null ? 0 : Math.max(0, head.seq - readSeq),
  read_seq: readSeq ?? 0,
  last_message: head.lastMessage === null ? null : toMessageView(head.lastMessage)
})

const notMember = () =>
  new NotMember({ error: { code: "not_member", message: "join the room before marking it read" } })

/**
 * Moves `caller`'s marker in a room they may see to `seq`, clamped to the room's head (a client
 * may say "everything" with a large number), never back; tells the user's other sockets, on
 * every node, through the revocation channel (`origin`: the socket that asked, or null over HTTP).
 */
export const moveReadMarker = Effect.fnUntraced(function* (
  services: {
    readonly store: Rooms["Service"]
    readonly messages: Messages["Service"]
    readonly revocations: Revocations["Service"]
  },
  caller: UserId,
  room: { readonly id: RoomId; readonly role: MemberRole | null },
  seq: number,
  origin: string | null
) {
  if (room.role === null) return yield* notMember()
  const head = yield* roomHead(services.messages, room.id)
  const target = Math.min(seq, head.seq)
  const stored = yield* services.store.markRead(room.id, caller, target)
  // Left (or removed) between the access check and the write: nothing was written.
  if (Option.isNone(stored)) return yield* notMember()
  const marker = new ReadMarker({
    room_id: room.id,
    seq: stored.value.seq,
    unread: Math.max(0, head.seq - stored.value.seq)
  })
  // Not moved: it was already there or further (whoever moved it told everyone then).
  if (stored.value.moved) {
    yield* services.revocations.publish({ kind: "read_marker", user_id: caller, origin, marker })
  }
  return marker
})
