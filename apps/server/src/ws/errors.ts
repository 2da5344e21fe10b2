/**
 * Why a client event was refused, as the `error` event says it. Every failure a client can
 * cause maps to one of the domain's `WsErrorCode`s here, and nowhere else.
 */
import type { Forbidden, NotFound, Overloaded, RateLimited, ServiceUnavailable, WsErrorCode } from "@parley/domain"
import { Data } from "effect"

export class EventError extends Data.TaggedError("EventError")<{
  readonly code: WsErrorCode
  readonly message: string
}> {}

/** What the room rules and the send path fail with. */
export type RoomFailure = Forbidden | NotFound | ServiceUnavailable | Overloaded | RateLimited

export const toEventError = (error: RoomFailure | EventError): EventError => {
  if (error instanceof EventError) return error
  switch (error._tag) {
    case "Forbidden":
      // Only refused in a room the caller can see, so its reason reveals nothing.
      return new EventError({ code: "forbidden", message: error.error.message })
    case "NotFound":
      // Same answer for a missing room and a private one, so neither is revealed.
      return new EventError({ code: "forbidden", message: "no such room, or you may not do that in it" })
    case "RateLimited":
      return new EventError({
        code: "rate_limited",
        message: `too many messages; retry in ${error.retryAfterSeconds} s`
      })
    case "Overloaded":
      return new EventError({ code: "overloaded", message: error.error.message })
    case "ServiceUnavailable":
      return new EventError({
        code: "service_unavailable",
        message:
          error.retryAfterSeconds === undefined
            ? error.error.message
            : `${error.error.message}; retry in ${error.retryAfterSeconds} s`
      })
  }
}
