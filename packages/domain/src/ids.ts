import { Schema, SchemaTransformation } from "effect"

/**
 * Every id on the wire is a lowercase RFC 4122 UUID string. Upper-case input is accepted
 * and lowercased, so one id can never name two things (a room, a presence set, a channel).
 * The check sits on the encoded side, where `/openapi.json` reads it (`format: uuid` and
 * its pattern); `version` 1 narrows it to TIMEUUIDs.
 */
export const uuidString = (version?: 1, message?: string) => {
  const check = Schema.isUUID(version, message === undefined ? undefined : { message })
  return Schema.String.check(check).pipe(
    Schema.decodeTo(Schema.String.check(check, Schema.isLowercased()), SchemaTransformation.toLowerCase())
  )
}

const uuid = uuidString()

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
 * room, so time order, `seq` order and storage order are one order. Cursors must be one too.
 */
export const MessageId = uuidString(1, "expected a message id (a TIMEUUID, version-1 UUID)").pipe(
  Schema.brand("MessageId")
)
export type MessageId = typeof MessageId.Type
