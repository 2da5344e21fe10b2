/**
 * The wire: client frames decoded in one pass (JSON and schema together, with the domain's
 * `ClientEvent`), server events encoded through the domain's `ServerEvent`. A broadcast is
 * encoded once, into a `Buffer` that every subscriber's socket writes as it is.
 */
import { ClientEvent, clientEventTypes, EventId, ServerEvent } from "@parley/domain"
import { Effect, Option, Schema, SchemaIssue } from "effect"
import { EventError } from "./errors.ts"

const decodeEvent = Schema.decodeUnknownEffect(Schema.fromJsonString(ClientEvent))
// A reply is built here from checked values: its shape is checked, its fields' filters are not.
const encodeReply = Schema.encodeSync(Schema.fromJsonString(Schema.toEncoded(ServerEvent)), { disableChecks: true })
const encodeWire = Schema.encodeOption(Schema.fromJsonString(Schema.toEncoded(ServerEvent)))
const encodeTyped = Schema.encodeSync(Schema.fromJsonString(ServerEvent))

// Only for frames that failed to decode, to say what is wrong with them and echo their id.
const parseJson = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Unknown))
const decodeId = Schema.decodeUnknownOption(Schema.Struct({ id: EventId }))
const decodeType = Schema.decodeUnknownOption(Schema.Struct({ type: Schema.String }))
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

/** A server event in wire shape (what `JSON.parse` of a frame gives a client). */
export type WireEvent = typeof ServerEvent.Encoded

/** Decodes one client frame; `null` stands for a binary frame. */
export const decodeFrame = (data: string | null): Effect.Effect<ClientEvent, EventError> =>
  data === null
    ? Effect.fail(new EventError({ code: "invalid_event", message: "frames must be JSON text, not binary" }))
    : Effect.mapError(decodeEvent(data), (error) => explain(data, error.issue))

const decodeNow = Schema.decodeUnknownOption(Schema.fromJsonString(ClientEvent))

/**
 * The frame, when it decodes to a send (a message, an edit, a delete), else none. Synchronous,
 * for the rare frame still queued at its send deadline (`handlers/dispatch.ts`).
 */
export const sendFrame = (data: string | null) =>
  Option.filter(
    data === null ? Option.none() : decodeNow(data),
    (event) => event.type === "chat.message" || event.type === "chat.edit" || event.type === "chat.delete"
  )

/** The `id` of a frame that failed to decode, when it has a usable one, so errors can be matched. */
export const frameId = (data: string | null): string | undefined => {
  if (data === null) return undefined
  return Option.getOrUndefined(Option.map(Option.flatMap(parseJson(data), decodeId), (e) => e.id))
}

const explain = (data: string, issue: SchemaIssue.Issue): EventError => {
  const json = parseJson(data)
  if (Option.isNone(json)) return new EventError({ code: "invalid_event", message: "the frame is not valid JSON" })
  const envelope = decodeType(json.value)
  if (Option.isNone(envelope)) {
    return new EventError({ code: "invalid_event", message: "expected a JSON object with a string `type`" })
  }
  const type = envelope.value.type
  if (!clientEventTypes.includes(type as ClientEvent["type"])) {
    return new EventError({
      code: "invalid_event",
      message: `unknown event type "${type.slice(0, 64)}"; expected one of ${clientEventTypes.join(", ")}`
    })
  }
  const first = formatIssue(issue).issues[0]
  const path = (first?.path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join(".")
  return new EventError({
    code: "invalid_event",
    message: first === undefined ? "invalid event" : path === "" ? first.message : `${path}: ${first.message}`
  })
}

/** One connection's answer (ack, error, pong), encoded now; throws only on a bug (a shape the protocol lacks). */
export const encodeReplyNow = (event: WireEvent): string => encodeReply(event)

/** `encodeReplyNow` as an effect: a failure to encode is a defect. */
export const encodeReplyEvent = (event: WireEvent): Effect.Effect<string> => Effect.sync(() => encodeReply(event))

/**
 * A broadcast already in wire shape (e.g. messages as the broker carries them), encoded once;
 * `undefined` when it does not match the protocol (it came from another node: never trusted).
 */
export const wireFrame = (event: WireEvent): Buffer | undefined =>
  Option.getOrUndefined(Option.map(encodeWire(event), (json) => Buffer.from(json)))

/** A broadcast built on this node (e.g. a stored message read back), encoded once. */
export const eventFrame = (event: ServerEvent): Buffer => Buffer.from(encodeTyped(event))
