import type { MessageId, RoomId, UserId, Visibility } from "@parley/domain"
import { makeTimeUuidClock, timeUuidMs } from "@parley/domain"
import { type MessageRecord, plainMessage, type RoomRecord, type UserRecord } from "../src/index.ts"

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
): RoomRecord => ({ id, name: unique("room-"), visibility, createdBy, createdAt: timeUuidMs(id), archived: false })

const messageClock = makeTimeUuidClock()

/** A plain message of a new sender, sent now, with no client id. */
export const newMessage = (roomId: RoomId, seq: number, text = `message ${seq}`): MessageRecord => ({
  roomId,
  id: messageClock.next(Date.now()) as MessageId,
  seq,
  userId: newUserId(),
  username: "sam",
  text,
  clientMsgId: null,
  createdAt: Date.now(),
  ...plainMessage
})

export const newUser = (username: string, email: string, now = Date.now()): UserRecord => ({
  id: crypto.randomUUID() as UserId,
  username,
  email,
  passwordHash: "$argon2id$fake",
  role: "user",
  disabled: false,
  createdAt: now,
  updatedAt: now
})

/**
 * A random millisecond 10 to 40 years ahead: rooms, messages or audit entries placed there
 * have no other test's data between them, whatever else the database holds.
 */
export const farFuture = () => Date.now() + 10 * 365 * 86_400_000 + Math.floor(Math.random() * 30 * 365 * 86_400_000)
