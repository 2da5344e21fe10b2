/**
 * Span helpers for the realtime path, where a span costs: a traced `Effect.fn` captures a
 * stack (about 10 µs), so these never do, and services ask `tracingOn` once, when they are
 * built, and add no span at all when nothing exports them. Spans stay coarse: one per inbound
 * frame, per group commit, per broadcast, never one per delivered socket.
 */
import type { Clock } from "effect"
import { Context, Effect, Exit, Option, Tracer } from "effect"

/**
 * Whether spans leave the process: a tracer other than Effect's in-memory default is
 * installed (`tracing.ts`). Read once when a service is built.
 */
export const tracingOn: Effect.Effect<boolean> = Effect.map(
  Effect.service(Tracer.Tracer),
  (tracer) => tracer !== Tracer.nativeTracer
)

/** The span the caller runs in, if any: to parent or link work that another fiber does for it. */
export const callerSpan: Effect.Effect<Tracer.AnySpan | undefined> = Effect.map(
  Effect.option(Effect.currentParentSpan),
  Option.getOrUndefined
)

/** No stack capture: the span's name says where it is. */
export const noStack = { captureStackTrace: false } as const

/**
 * Options for a span doing work for many callers (a group commit serves many sends): a child
 * of the first caller's span, so that one trace runs unbroken from a send to its storage, and
 * linked to every other caller's span. A root when no caller had one.
 */
export const servingMany = (
  callers: ReadonlyArray<Tracer.AnySpan | undefined>,
  attributes: Record<string, unknown>
): Tracer.SpanOptions => {
  let parent: Tracer.AnySpan | undefined
  const links: Array<Tracer.SpanLink> = []
  for (const span of callers) {
    if (span === undefined) continue
    if (parent === undefined) parent = span
    else links.push({ span, attributes: {} })
  }
  return parent === undefined
    ? { attributes, links, root: true, captureStackTrace: false }
    : { attributes, links, parent, captureStackTrace: false }
}

/** A span's identity as it travels in a room event (to the hub, and through Redis to other nodes). */
export interface TraceContext {
  readonly trace_id: string
  readonly span_id: string
}

export const traceContextOf = (span: Tracer.AnySpan): TraceContext => ({
  trace_id: span.traceId,
  span_id: span.spanId
})

/**
 * Starts a span by hand for synchronous code outside any fiber (the hub's fan-out runs in a
 * broker callback), as a child of a span that may live on another node. End it with `end`.
 */
export const startRemoteChild = (
  tracer: Tracer.Tracer,
  clock: Clock.Clock,
  name: string,
  parent: TraceContext
): Tracer.Span =>
  tracer.span({
    name,
    parent: Option.some(Tracer.externalSpan({ traceId: parent.trace_id, spanId: parent.span_id })),
    annotations: Context.empty(),
    links: [],
    startTime: clock.currentTimeNanosUnsafe(),
    kind: "internal",
    root: false,
    sampled: true
  })

export const end = (span: Tracer.Span, clock: Clock.Clock) => span.end(clock.currentTimeNanosUnsafe(), Exit.void)
