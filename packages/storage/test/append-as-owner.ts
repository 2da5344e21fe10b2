import type { RoomId } from "@parley/domain"
import { Effect } from "effect"
import type { MessageRecord, Messages } from "../src/index.ts"

/**
 * Claims the room and appends `batch` after its head, as the room's actor does: how tests
 * that are not about fencing store a history. Each call is a new claim (a new owner).
 */
export const appendAsOwner = (messages: Messages["Service"], roomId: RoomId, batch: ReadonlyArray<MessageRecord>) =>
  Effect.flatMap(messages.claim(roomId), (head) =>
    messages.append(roomId, batch, { epoch: head.epoch, afterSeq: head.lastSeq })
  )
