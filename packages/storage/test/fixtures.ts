import type { RoomId, UserId, Visibility } from "@parley/domain"
import { makeTimeUuidClock, timeUuidMs } from "@parley/domain"
import type { RoomRecord } from "../src/index.ts"

/** Names unique per run, so the suite can share one database with earlier runs. */
export const unique = (prefix: string) => `${prefix}${crypto.randomUUID().slice(0, 8)}`

export const newUserId = () => crypto.randomUUID() as UserId

/**
 * The message window the Cassandra suite runs with. The message tests place messages in
 * time relative to it, so history spans many windows with empty ones between.
 */
export const testMessageBucketMs = 50

const roomClock = makeTimeUuidClock()

/** A room whose TIMEUUID id (minted now unless given) sets its creation time. */
export const newRoom = (
  createdBy: UserId,
  visibility: Visibility = "private",
  id = roomClock.next(Date.now()) as RoomId
): RoomRecord => ({ id, name: unique("room-"), visibility, createdBy, createdAt: timeUuidMs(id) })
