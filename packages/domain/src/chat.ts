import { Schema, SchemaTransformation } from "effect"
import { MessageId, RoomId, UserId, uuidString } from "./ids.ts"
import { noControlChars, trimsToName } from "./text.ts"
import { Username } from "./user.ts"

export const Visibility = Schema.Literals(["public", "private"])
export type Visibility = typeof Visibility.Type

/** `direct`: the private room of exactly two users (`POST /api/chat/direct`); `room`: any other. */
export const RoomKind = Schema.Literals(["room", "direct"])
export type RoomKind = typeof RoomKind.Type

/** A member's standing in one room; `owner` and `admin` manage members of private rooms. */
export const MemberRole = Schema.Literals(["owner", "admin", "member"])
export type MemberRole = typeof MemberRole.Type

export { hasControlOrFormatChars, noControlChars } from "./text.ts"

/**
 * Surrounding spaces are dropped, as any chat app does with a name typed into a box; what is
 * left is 1 to 100 characters (code points) without control or invisible formatting ones
 * (they make a name display as something other than what it is).
 */
export const RoomName = Schema.String.check(noControlChars("room name"), trimsToName("room name", 100)).pipe(
  Schema.decodeTo(Schema.Trimmed, SchemaTransformation.trim())
)

/** Message text: 1 to 4,000 characters (code points, as JSON Schema counts them). */
export const MessageText = Schema.String.check(
  Schema.isMinCodePoints(1, { message: "message must not be empty" }),
  Schema.isMaxCodePoints(4000, { message: "message must be at most 4000 characters" })
)

/**
 * Chosen by the client to make a send idempotent: a retry with the same id is stored once. Valid
 * Unicode only: a lone surrogate (which JSON's `\ud800` escape can carry) is stored as U+FFFD, so
 * the retry would no longer match what was stored, and would be stored again.
 */
export const ClientMsgId = Schema.String.check(
  Schema.isMinCodePoints(1, { message: "client_msg_id must not be empty" }),
  Schema.isMaxCodePoints(64, { message: "client_msg_id must be at most 64 characters" }),
  // Escapes, not the characters: the pattern goes into /openapi.json as text.
  Schema.isPattern(/^[^\ud800-\udfff]*$/u, { message: "client_msg_id must be valid Unicode (no lone surrogate)" })
)

export class CreateRoomRequest extends Schema.Class<CreateRoomRequest>("CreateRoomRequest")({
  name: RoomName,
  visibility: Schema.optionalKey(Visibility)
}) {}

/** The other user of a direct room, as the caller sees it. */
export class RoomPeer extends Schema.Class<RoomPeer>("RoomPeer")({
  user_id: UserId,
  username: Schema.String
}) {}

export class RoomView extends Schema.Class<RoomView>("RoomView")({
  room_id: RoomId,
  name: Schema.String,
  visibility: Visibility,
  created_by: UserId,
  created_at: Schema.String,
  /** The caller's role in the room, or null when not a member. */
  role: Schema.NullOr(MemberRole),
  /** Archived rooms are read-only: history stays, new messages are refused. */
  archived: Schema.Boolean,
  kind: RoomKind,
  /** A direct room's other user, whose username is also its `name`; null for other rooms. */
  peer: Schema.NullOr(RoomPeer),
  /**
   * Stream entries after the caller's read marker (head `seq` − `read_seq`; edits and deletes
   * have seqs of their own and count too). 0 when the caller is not a member.
   */
  unread: Schema.Int,
  /** The caller's read marker: the last `seq` they have read; 0 when never set or not a member. */
  read_seq: Schema.Int,
  /** The newest message (never an edit or delete entry) in its current state; null in an empty room. */
  last_message: Schema.NullOr(Schema.suspend((): typeof MessageView => MessageView))
}) {}

/** Opens the direct room with `username`, creating it the first time (either user may ask). */
export class DirectRoomRequest extends Schema.Class<DirectRoomRequest>("DirectRoomRequest")({
  username: Username
}) {}

export class RoomList extends Schema.Class<RoomList>("RoomList")({
  rooms: Schema.Array(RoomView),
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: Schema.NullOr(Schema.String)
}) {}

export class MemberView extends Schema.Class<MemberView>("MemberView")({
  user_id: UserId,
  role: MemberRole,
  joined_at: Schema.String
}) {}

export class MemberList extends Schema.Class<MemberList>("MemberList")({
  members: Schema.Array(MemberView),
  next_cursor: Schema.NullOr(Schema.String)
}) {}

export class AddMemberRequest extends Schema.Class<AddMemberRequest>("AddMemberRequest")({
  role: Schema.optionalKey(Schema.Literals(["admin", "member"]))
}) {}

/** `content` as in the seed's command reference. */
export class PostMessageRequest extends Schema.Class<PostMessageRequest>("PostMessageRequest")({
  content: MessageText,
  client_msg_id: Schema.optionalKey(ClientMsgId)
}) {}

/**
 * What an entry of a room's stream is: a `message`, or an `edit` or `delete` of an earlier
 * message (`target_id`). Edits and deletes are events with their own `seq`, delivered and
 * replayed in order with the messages; history also shows each message's current state.
 */
export const MessageKind = Schema.Literals(["message", "edit", "delete"])
export type MessageKind = typeof MessageKind.Type

/** One stored message, as HTTP returns it and as the WebSocket `chat.message` event carries it. */
export class MessageView extends Schema.Class<MessageView>("MessageView")({
  room_id: RoomId,
  msg_id: MessageId,
  /** Per-room position: 1, 2, 3, … without gaps, in storage order. */
  seq: Schema.Number,
  /** The author (of a message), or who edited or deleted (of an edit or delete). */
  user_id: UserId,
  username: Schema.String,
  /** A message's current text ("" once deleted); an edit's new text; "" for a delete. */
  text: Schema.String,
  client_msg_id: Schema.NullOr(Schema.String),
  created_at: Schema.String,
  // Added with edits (issue 12), after the fields clients already read in this order.
  /** `edit` / `delete`: an event changing the message `target_id`; `message`: a message. */
  kind: MessageKind,
  /** Edits and deletes: the message they change; null for a message. */
  target_id: Schema.NullOr(MessageId),
  /** A message's latest edit (ISO 8601), or null if never edited. */
  edited_at: Schema.NullOr(Schema.String),
  /** Who deleted a message (its tombstone keeps `seq` and `msg_id`), or null. */
  deleted_by: Schema.NullOr(UserId)
}) {}

/** A read marker's position: the last `seq` read (0: nothing yet). */
export const ReadSeq = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** `PUT /api/chat/rooms/{room_id}/read`: the last `seq` the caller has read (above the head: the head). */
export class MarkReadRequest extends Schema.Class<MarkReadRequest>("MarkReadRequest")({
  seq: ReadSeq
}) {}

/** A read marker as stored after a move (it never moves back), and what is left unread after it. */
export class ReadMarker extends Schema.Class<ReadMarker>("ReadMarker")({
  room_id: RoomId,
  seq: Schema.Int,
  unread: Schema.Int
}) {}

/**
 * `PATCH /api/chat/rooms/{room_id}/messages/{msg_id}`: the message's new text. Only its author
 * edits a message; the edit is an event of the room's stream (`kind: "edit"`), idempotent by
 * `client_msg_id` like a send.
 */
export class EditMessageRequest extends Schema.Class<EditMessageRequest>("EditMessageRequest")({
  text: MessageText,
  client_msg_id: Schema.optionalKey(ClientMsgId)
}) {}

/** `DELETE /api/chat/rooms/{room_id}/messages/{msg_id}`: `client_msg_id` makes a retry safe. */
export const DeleteMessageQuery = Schema.Struct({
  client_msg_id: Schema.optionalKey(ClientMsgId)
})

export class MessagePage extends Schema.Class<MessagePage>("MessagePage")({
  messages: Schema.Array(MessageView),
  /** The msg_id to pass as `before` (or `after`) for the next page; null when there is none. */
  next_cursor: Schema.NullOr(MessageId)
}) {}

/**
 * A page size: an integer from 1 to 100 written in plain decimal (`0x10`, `1e1`, ` 1` and `01`
 * are not page sizes). A query value is text, so the description says so, with this pattern.
 */
export const Limit = Schema.String.check(
  Schema.isPattern(/^(?:[1-9][0-9]?|100)$/u, { message: "limit must be an integer from 1 to 100" })
).pipe(Schema.decodeTo(Schema.Number, SchemaTransformation.numberFromString))

/**
 * `next_cursor` of a room listing: the last room id of the previous page. Room ids are
 * TIMEUUIDs (version 1), the only UUIDs Cassandra's `timeuuid` columns accept.
 */
export const RoomCursor = uuidString(1, "a room cursor must be a TIMEUUID (version-1 UUID)").pipe(
  Schema.brand("RoomId")
)

/**
 * `before` alone: newest first, older than it. `after` alone: oldest first, newer than it.
 * Both: oldest first, strictly between the two. Neither: the newest page.
 */
export const MessageQuery = Schema.Struct({
  limit: Schema.optionalKey(Limit),
  /** A position in the room's history: a `msg_id`, or any TIMEUUID (a point in time). */
  before: Schema.optionalKey(MessageId),
  after: Schema.optionalKey(MessageId)
})

export const RoomListQuery = Schema.Struct({
  limit: Schema.optionalKey(Limit),
  cursor: Schema.optionalKey(RoomCursor),
  /** `joined` (default): rooms the caller belongs to; `public`: the public room directory. */
  scope: Schema.optionalKey(Schema.Literals(["joined", "public"]))
})

/** Member listing: `cursor` is the last user id of the previous page. */
export const PageQuery = Schema.Struct({
  limit: Schema.optionalKey(Limit),
  cursor: Schema.optionalKey(UserId)
})
