/**
 * Stored messages for the in-process hub and connection tests: one record per room and
 * `seq`, always the same (a fixed TIMEUUID node, so a resume cursor matches what is stored),
 * and its wire form.
 */
import { type MessageId, MessageView, type RoomId, timeUuidFrom, type UserId } from "@parley/domain"
import { type MessageRecord, type Messages, plainMessage } from "@parley/storage"
import { Effect, Schema } from "effect"
import { toMessageView } from "../../src/views/chat.ts"

export const ada = "00000000-0000-4000-8000-0000000000ad" as UserId
const base = Date.parse("2026-03-01T12:00:00Z")
const node = new Uint8Array(8)

export const record = (roomId: RoomId, seq: number): MessageRecord => ({
  roomId,
  id: timeUuidFrom(base + seq, 0, node) as MessageId,
  seq,
  userId: ada,
  username: "ada",
  text: `m${seq}`,
  clientMsgId: null,
  createdAt: base + seq,
  ...plainMessage
})

export const encode = Schema.encodeSync(MessageView)

/** The message as the broker carries it. */
export const wire = (roomId: RoomId, seq: number) => encode(toMessageView(record(roomId, seq)))

/** Stores the messages of `seqs` as the room's actor would: claim the room, then append after its head. */
export const storeSeqs = (messages: Messages["Service"], roomId: RoomId, seqs: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const claim = yield* messages.claim(roomId)
    yield* messages.append(
      roomId,
      seqs.map((s) => record(roomId, s)),
      { epoch: claim.epoch, afterSeq: claim.lastSeq }
    )
  })
