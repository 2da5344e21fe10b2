/**
 * What crosses between the server's thread and the SQLite worker (`worker.ts`). Messages go by
 * structured clone, which keeps plain data but drops prototypes: an `Option` would arrive as a
 * bare object and a tagged error as a plain `Error`. Values are therefore walked and their
 * `Option`s marked (`toWire`/`fromWire`), and failures travel in their Schema-encoded form and
 * are decoded back into the same classes.
 */
import { EmailRegistered, UsernameTaken } from "@parley/domain"
import { Cause, Option, Schema } from "effect"
import { ClientMsgIdStored, StaleWrite, StorageError } from "../errors.ts"

/** Every error a storage service fails with (see the service interfaces). */
export const Failure = Schema.Union([StorageError, StaleWrite, ClientMsgIdStored, UsernameTaken, EmailRegistered])
export type Failure = typeof Failure.Type

/** How one member of a service is reached: a method, an Effect (`StorageHealth.check`), or a constant. */
export type Member =
  | { readonly name: string; readonly kind: "function" | "effect" }
  | { readonly name: string; readonly kind: "value"; readonly value: unknown }

export interface ServiceShape {
  readonly key: string
  readonly members: ReadonlyArray<Member>
}

/** Main thread → worker: a call, sent in an array with the others of its event-loop turn. */
export interface Call {
  readonly type: "call"
  readonly id: number
  readonly service: string
  readonly member: string
  readonly args: ReadonlyArray<unknown>
}
/** Main thread → worker: an array of calls, or the request to close. */
export type Request = ReadonlyArray<Call> | { readonly type: "close" }

/** Worker → main thread: a call's outcome, sent in an array with the others of its turn. `failure` is `Failure`'s encoded form. */
export type CallReply =
  | { readonly type: "success"; readonly id: number; readonly value: unknown }
  | { readonly type: "failure"; readonly id: number; readonly failure: unknown }

/** Worker → main thread, once: the services it offers, or why it could not open the file. */
export type Reply =
  | { readonly type: "ready"; readonly services: ReadonlyArray<ServiceShape> }
  | { readonly type: "failed"; readonly failure: unknown }

/**
 * Collects what is sent in one turn of the event loop and posts it as one message (an array).
 * One item that cannot be cloned must not take the others down with it: then each is posted
 * alone, and `refused` is told about those that still fail.
 */
export const batcher = <A>(
  port: { postMessage(message: ReadonlyArray<A>): void },
  refused: (item: A, error: unknown) => void
) => {
  let outbox: Array<A> = []
  const flush = () => {
    const batch = outbox
    outbox = []
    try {
      port.postMessage(batch)
    } catch {
      for (const item of batch) {
        try {
          port.postMessage([item])
        } catch (error) {
          refused(item, error)
        }
      }
    }
  }
  return (item: A) => {
    if (outbox.length === 0) setImmediate(flush)
    outbox.push(item)
  }
}

const optionMark = "~parley/Option"

/** Whether structured clone keeps this object as it is (its prototype included). */
const cloneable = (value: object) => value instanceof Date || ArrayBuffer.isView(value) || value instanceof ArrayBuffer

/**
 * Plain data with every `Option` replaced by a marked object. Any other class instance is
 * refused rather than sent without its prototype: a new kind of value in a service's results
 * must be taught here, not silently arrive broken.
 */
export const toWire = (value: unknown): unknown => {
  if (value === null || typeof value !== "object") return value
  if (Option.isOption(value)) return { [optionMark]: Option.isSome(value) ? [toWire(value.value)] : [] }
  if (Array.isArray(value)) return value.map(toWire)
  if (cloneable(value)) return value
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) {
    throw new TypeError(
      `cannot send a ${prototype?.constructor?.name ?? "class instance"} to or from the SQLite worker`
    )
  }
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) out[key] = toWire(field)
  return out
}

export const fromWire = (value: unknown): unknown => {
  if (value === null || typeof value !== "object" || cloneable(value)) return value
  if (Array.isArray(value)) return value.map(fromWire)
  const fields = Object.entries(value)
  if (fields.length === 1 && fields[0]![0] === optionMark) {
    const [inner] = fields[0]![1] as Array<unknown>
    return (fields[0]![1] as Array<unknown>).length === 0 ? Option.none() : Option.some(fromWire(inner))
  }
  const out: Record<string, unknown> = {}
  for (const [key, field] of fields) out[key] = fromWire(field)
  return out
}

/**
 * A failed call's cause as it crosses: a known error as itself; a defect, an interruption or
 * an unknown error as `StorageError`, as the caller can only treat it as the database failing.
 */
export const encodeFailure = (operation: string, cause: Cause.Cause<unknown>): unknown => {
  const error = Cause.findErrorOption(cause)
  const known =
    Option.isSome(error) && Schema.is(Failure)(error.value)
      ? error.value
      : new StorageError({ operation, cause: new Error(Cause.pretty(cause)) })
  return Schema.encodeUnknownSync(Failure)(known)
}

export const decodeFailure = (operation: string, encoded: unknown): Failure => {
  try {
    return Schema.decodeUnknownSync(Failure)(encoded)
  } catch (cause) {
    return new StorageError({ operation, cause })
  }
}
