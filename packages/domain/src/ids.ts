import { Schema } from "effect"

/** Every id on the wire is a lowercase RFC 4122 UUID string. */
const uuid = Schema.String.check(Schema.isUUID())

export const UserId = uuid.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

/** A login session: one device, one refresh-token family. */
export const SessionId = uuid.pipe(Schema.brand("SessionId"))
export type SessionId = typeof SessionId.Type
