import { Schema } from "effect"

/**
 * The database failed or could not be reached. Not the caller's fault: the HTTP
 * layer answers 503 and logs the cause with the request id.
 */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  operation: Schema.String,
  cause: Schema.Defect()
}) {}
