import { Schema } from "effect"

/** Every id on the wire is a lowercase RFC 4122 UUID string. */
const uuid = Schema.String.check(Schema.isUUID())

export const UserId = uuid.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

/** A login session: one device, one refresh-token family. */
export const SessionId = uuid.pipe(Schema.brand("SessionId"))
export type SessionId = typeof SessionId.Type

/** A room. A version-1 (time-based) UUID, so rooms sort by creation time. */
export const RoomId = uuid.pipe(Schema.brand("RoomId"))
export type RoomId = typeof RoomId.Type

/**
 * A message: a TIMEUUID (version 1) minted by the room's actor, strictly increasing within a
 * room, so time order, `seq` order and storage order are one order.
 */
export const MessageId = uuid.pipe(Schema.brand("MessageId"))
export type MessageId = typeof MessageId.Type
