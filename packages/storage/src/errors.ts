import { Schema } from "effect"

/**
 * The database failed or could not be reached. Not the caller's fault: the HTTP
 * layer answers 503 and logs the cause with the request id.
 */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  operation: Schema.String,
  cause: Schema.Defect()
}) {}

/**
 * A room write refused because its writer is no longer entitled to it. `deposed`: another
 * writer claimed the room since this one did (a newer epoch), so this one must stop writing.
 * `stale head`: the room's newest stored `seq` is not the one the writer continued from, so
 * it must re-read the head before writing again. Nothing of the refused write was stored.
 */
export class StaleWrite extends Schema.TaggedError<StaleWrite>()("StaleWrite", {
  roomId: Schema.String,
  reason: Schema.Literals(["deposed", "stale head"])
}) {}

/**
 * An append refused because one of its messages carries a `clientMsgId` already stored for its
 * (room, user): a retry its writer took for a new send. Nothing of the append was stored. Only
 * storage that checks (`Messages.refusesStoredClientMsgIds`) fails with it.
 */
export class ClientMsgIdStored extends Schema.TaggedError<ClientMsgIdStored>()("ClientMsgIdStored", {
  roomId: Schema.String
}) {}
