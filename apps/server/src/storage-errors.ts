import { ServiceUnavailable } from "@parley/domain"
import { StorageError } from "@parley/storage"
import { Effect } from "effect"

/** Storage trouble is not the caller's fault: log the cause, answer 503. */
export const unavailable = <A, E, R>(effect: Effect.Effect<A, E | StorageError, R>) =>
  Effect.catchIf(
    effect,
    (e): e is StorageError => e instanceof StorageError,
    (error) => Effect.andThen(Effect.logError("storage failure", error), Effect.fail(new ServiceUnavailable()))
  ) as Effect.Effect<A, Exclude<E, StorageError> | ServiceUnavailable, R>
