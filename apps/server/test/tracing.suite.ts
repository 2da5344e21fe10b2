/**
 * OpenTelemetry traces from a real server process to an OTLP receiver started by the test:
 * one trace follows a message from its WebSocket frame (or HTTP request) through the room
 * actor's write and storage to the broker and the hub's delivery, each span a child of the
 * one before, with the request id on the root. Without an exporter, nothing leaves.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request, uniqueName } from "./support/http.ts"
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./support/otlp.ts"
import { type Backend, type RunningServer, startAnotherNode, startServer } from "./support/server.ts"
import { account, connect, createRoom } from "./support/ws.ts"

/** Exports every 50 ms in OTLP/JSON, which the receiver reads, with a header as a collector's API key would be. */
const exportTo = (receiver: OtlpReceiver) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
  OTEL_EXPORTER_OTLP_HEADERS: "x-collector-key=k%201",
  OTEL_BSP_SCHEDULE_DELAY: "50"
})

/** The storage write of a message, on either backend. */
const isAppend = (span: ReceivedSpan) =>
  span.name === "cassandra messages.append.commit" || span.name === "sqlite Messages.append"

/** `span`'s ancestors in its trace, nearest first (as far as they have arrived). */
const ancestry = (spans: ReadonlyArray<ReceivedSpan>, span: ReceivedSpan) => {
  const byId = new Map(spans.filter((s) => s.traceId === span.traceId).map((s) => [s.spanId, s]))
  const chain: Array<ReceivedSpan> = []
  for (let at = span.parentSpanId; at !== undefined; at = byId.get(at)?.parentSpanId) {
    const parent = byId.get(at)
    if (parent === undefined) break
    chain.push(parent)
  }
  return chain
}

/**
 * The spans of a message's way from `root` down: the write (`room.commit`) below the root, the
 * storage append below the write, the publish below the write and the delivery below the
 * publish. `undefined` until all of them have arrived.
 */
const messageTrace = (spans: ReadonlyArray<ReceivedSpan>, root: ReceivedSpan) => {
  const below = (span: ReceivedSpan, ancestor: ReceivedSpan) =>
    span.traceId === ancestor.traceId && ancestry(spans, span).includes(ancestor)
  const commit = spans.find((s) => s.name === "room.commit" && below(s, root))
  if (commit === undefined) return undefined
  const append = spans.find((s) => isAppend(s) && below(s, commit))
  const publish = spans.find((s) => s.name === "broker.publish" && s.parentSpanId === commit.spanId)
  const deliver =
    publish === undefined ? undefined : spans.find((s) => s.name === "hub.deliver" && s.parentSpanId === publish.spanId)
  if (append === undefined || publish === undefined || deliver === undefined) return undefined
  return { commit, append, publish, deliver }
}

/** The trace as a tree, depth first: names, start relative to the root and duration, for the test's output. */
const describeTrace = (spans: ReadonlyArray<ReceivedSpan>, root: ReceivedSpan) => {
  const inTrace = spans.filter((s) => s.traceId === root.traceId)
  const lines: Array<string> = []
  const walk = (span: ReceivedSpan, depth: number) => {
    const start = Number(span.startNanos - root.startNanos) / 1e6
    const took = Number(span.endNanos - span.startNanos) / 1e6
    const node = span.resource["service.instance.id"]
    const where = node === undefined ? "" : ` [node ${node}]`
    lines.push(`${"  ".repeat(depth)}${span.name}${where}  +${start.toFixed(2)} ms, ${took.toFixed(2)} ms`)
    inTrace
      .filter((s) => s.parentSpanId === span.spanId)
      .sort((a, b) => (a.startNanos < b.startNanos ? -1 : 1))
      .forEach((child) => {
        walk(child, depth + 1)
      })
  }
  walk(root, 0)
  return lines.join("\n")
}

/**
 * `it` where a case applies to this backend's setup, and nothing at all where it does not: a
 * case that does not apply is not declared, rather than reported as skipped.
 */
const declaredIf = (applies: boolean | undefined): typeof it =>
  applies === true ? it : ((() => undefined) as unknown as typeof it)

export const tracingSuite = (
  backend: Backend,
  options: { readonly otherStarts: boolean; readonly twoNodes: boolean }
) =>
  describe(`traces (${backend.name})`, () => {
    let receiver: OtlpReceiver
    let server: RunningServer
    /** With two nodes: the second, which tells its spans apart by `service.instance.id`. */
    let other: RunningServer | undefined

    beforeAll(async () => {
      receiver = await startOtlpReceiver()
      server = await startServer(backend, { ...exportTo(receiver), OTEL_RESOURCE_ATTRIBUTES: "service.instance.id=a" })
      if (options.twoNodes) {
        other = await startAnotherNode(backend, server, { OTEL_RESOURCE_ATTRIBUTES: "service.instance.id=b" })
      }
    })
    afterAll(async () => {
      await Promise.all([server?.stop(), other?.stop()])
      await receiver?.close()
    })

    it("one trace follows a WebSocket message from its frame through the actor, storage and broker to the delivery", async () => {
      const owner = await account(server.url, "trc")
      const roomId = await createRoom(server.url, owner)
      const listener = await connect(server.url, { token: owner.token, roomId })
      await listener.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
      const sender = await connect(server.url, { token: owner.token })
      const eventId = uniqueName("frame")
      sender.send({ type: "chat.message", id: eventId, to: roomId, payload: { text: "traced" } })
      const ack = await sender.next((e) => e.type === "ack" && e.id === eventId)
      await listener.next((e) => e.type === "chat.message" && e.payload.msg_id === ack.payload.msg_id)

      const { frame, trace } = await receiver.waitFor((spans) => {
        const frame = spans.find((s) => s.name === "ws chat.message" && s.attributes["ws.event_id"] === eventId)
        const trace = frame === undefined ? undefined : messageTrace(spans, frame)
        return trace === undefined ? undefined : { frame: frame!, trace }
      })
      console.log(`trace of one WebSocket message (${backend.name}):\n${describeTrace(receiver.spans, frame)}`)
      expect(frame.parentSpanId).toBeUndefined()
      expect(frame.attributes.request_id).toEqual(expect.any(String))
      expect(frame.attributes.room_id).toBe(roomId)
      expect(frame.resource["service.name"]).toBe("parley")
      expect(receiver.headers.every((h) => h["x-collector-key"] === "k 1")).toBe(true)
      expect(trace.commit.attributes.room_id).toBe(roomId)
      expect(trace.deliver.attributes["hub.deliveries"]).toBeGreaterThanOrEqual(1)
      listener.close()
      sender.close()
    })

    it("an HTTP send is traced the same way, its request id on the request's span", async () => {
      const owner = await account(server.url, "trh")
      const roomId = await createRoom(server.url, owner)
      const listener = await connect(server.url, { token: owner.token, roomId })
      await listener.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
      const requestId = uniqueName("req")
      const sent = await request(server.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
        token: owner.token,
        body: { content: "traced over HTTP" },
        headers: { "x-request-id": requestId }
      })
      expect(sent.status).toBe(201)

      const { root } = await receiver.waitFor((spans) => {
        const root = spans.find((s) => s.attributes.request_id === requestId)
        return root !== undefined && messageTrace(spans, root) !== undefined ? { root } : undefined
      })
      console.log(`trace of one HTTP send (${backend.name}):\n${describeTrace(receiver.spans, root)}`)
      expect(root.parentSpanId).toBeUndefined()
      expect(root.attributes["http.request.method"]).toBe("POST")
      // Its access-log line carries the request id and leads to the trace.
      const lines = server
        .output()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line))
      const logged = lines.find((l) => l.message === "http" && l.annotations?.request_id === requestId)
      expect(logged).toMatchObject({ trace_id: root.traceId, span_id: expect.any(String) })
      listener.close()
    })

    declaredIf(options.twoNodes)(
      "the trace crosses nodes: delivered on another node as a child of the publish",
      async () => {
        const owner = await account(server.url, "trx")
        const roomId = await createRoom(server.url, owner)
        const listener = await connect(other!.url, { token: owner.token, roomId })
        await listener.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
        const sender = await connect(server.url, { token: owner.token })
        const eventId = uniqueName("far")
        sender.send({ type: "chat.message", id: eventId, to: roomId, payload: { text: "across nodes" } })
        const ack = await sender.next((e) => e.type === "ack" && e.id === eventId)
        await listener.next((e) => e.type === "chat.message" && e.payload.msg_id === ack.payload.msg_id)

        const { frame, trace } = await receiver.waitFor((spans) => {
          const frame = spans.find((s) => s.name === "ws chat.message" && s.attributes["ws.event_id"] === eventId)
          const trace = frame === undefined ? undefined : messageTrace(spans, frame)
          return trace === undefined ? undefined : { frame: frame!, trace }
        })
        console.log(`trace of one message across two nodes (${backend.name}):\n${describeTrace(receiver.spans, frame)}`)
        expect(frame.resource["service.instance.id"]).toBe("a")
        // Only the other node has a subscriber: its hub delivered, under the owner's publish.
        expect(trace.deliver.resource["service.instance.id"]).toBe("b")
        listener.close()
        sender.close()
      }
    )

    it("a token in a URL's query never reaches a span", async () => {
      const requestId = uniqueName("tok")
      const secret = `secret-${uniqueName("t")}`
      // Without the upgrade headers, `/ws?token=` is an ordinary request the router answers.
      await request(server.url, "GET", `/ws?token=${secret}&room_id=x`, { headers: { "x-request-id": requestId } })
      const span = await receiver.waitFor((spans) => spans.find((s) => s.attributes.request_id === requestId))
      expect(span.attributes["url.path"]).toBe("/ws")
      expect(JSON.stringify(span.attributes)).not.toContain(secret)
      expect(span.attributes["url.query"]).toContain("room_id=x")
    })

    it("a Prometheus scrape makes no span", async () => {
      expect((await fetch(server.metricsUrl)).status).toBe(200)
      // Spans are exported in the order they end: once a later request's span is in, a span
      // of the scrape would be too.
      const requestId = uniqueName("after-scrape")
      await request(server.url, "GET", "/healthz", { headers: { "x-request-id": requestId } })
      await receiver.waitFor((spans) => spans.find((s) => s.attributes.request_id === requestId))
      expect(receiver.spans.filter((s) => s.attributes["url.path"] === "/metrics")).toEqual([])
    })

    declaredIf(options.otherStarts)("exports OTLP/protobuf unless told otherwise", async () => {
      const plain = await startOtlpReceiver()
      const { OTEL_EXPORTER_OTLP_PROTOCOL: _json, ...protobuf } = exportTo(plain)
      const other = await startServer(backend, protobuf)
      try {
        await request(other.url, "GET", "/healthz")
        const contentType = await plain.waitFor(() =>
          plain.headers.map((h) => h["content-type"]).find((type) => type !== undefined)
        )
        expect(contentType).toBe("application/x-protobuf")
      } finally {
        await other.stop()
        await plain.close()
      }
    })

    declaredIf(options.otherStarts)(
      "with OTEL_SDK_DISABLED set, an endpoint gets nothing, even at shutdown",
      async () => {
        const silent = await startOtlpReceiver()
        const other = await startServer(backend, { ...exportTo(silent), OTEL_SDK_DISABLED: "true" })
        try {
          const owner = await account(other.url, "trd")
          const roomId = await createRoom(other.url, owner)
          const sender = await connect(other.url, { token: owner.token, roomId })
          sender.send({ type: "chat.message", id: "m", to: roomId, payload: { text: "not traced" } })
          await sender.next((e) => e.type === "ack" && e.id === "m")
          sender.close()
        } finally {
          // An exporter flushes what it holds when the process stops: after this, it would have.
          await other.stop()
          await silent.close()
        }
        expect(silent.requests()).toBe(0)
        expect(other.output()).not.toContain("exporting traces over OTLP")
      }
    )
  })
