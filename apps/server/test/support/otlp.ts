/**
 * A tiny OTLP/HTTP trace receiver for tests: accepts `POST /v1/traces` in OTLP/JSON, keeps every
 * span, and lets a test wait until the spans it expects have arrived (checked on each arrival,
 * never by sleeping).
 */
import { createServer, type IncomingHttpHeaders } from "node:http"

export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  readonly kind: number
  readonly startNanos: bigint
  readonly endNanos: bigint
  readonly attributes: Record<string, unknown>
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>
  /** The exporting process's resource attributes (`service.name`, …). */
  readonly resource: Record<string, unknown>
}

export interface OtlpReceiver {
  /** The base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly url: string
  readonly spans: Array<ReceivedSpan>
  /** Export requests received, whatever they held. */
  readonly requests: () => number
  /** The headers of every export request, in arrival order. */
  readonly headers: Array<IncomingHttpHeaders>
  /** Resolves with `find`'s first defined answer, asked now and after every export that arrives. */
  readonly waitFor: <A>(find: (spans: ReadonlyArray<ReceivedSpan>) => A | undefined, timeoutMs?: number) => Promise<A>
  readonly close: () => Promise<void>
}

interface AnyValue {
  readonly stringValue?: string
  readonly intValue?: string | number
  readonly doubleValue?: number
  readonly boolValue?: boolean
  readonly arrayValue?: { readonly values?: ReadonlyArray<AnyValue> }
}
interface KeyValue {
  readonly key: string
  readonly value: AnyValue
}

const decodeValue = (value: AnyValue): unknown =>
  value.stringValue ??
  (value.intValue !== undefined ? Number(value.intValue) : undefined) ??
  value.doubleValue ??
  value.boolValue ??
  value.arrayValue?.values?.map(decodeValue)

const record = (attributes: ReadonlyArray<KeyValue> | undefined) =>
  Object.fromEntries((attributes ?? []).map(({ key, value }) => [key, decodeValue(value)]))

const decode = (body: any): Array<ReceivedSpan> =>
  (body.resourceSpans ?? []).flatMap((rs: any) => {
    const resource = record(rs.resource?.attributes)
    return (rs.scopeSpans ?? []).flatMap((ss: any) =>
      (ss.spans ?? []).map(
        (s: any): ReceivedSpan => ({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId === "" ? undefined : s.parentSpanId,
          name: s.name,
          kind: s.kind,
          startNanos: BigInt(s.startTimeUnixNano),
          endNanos: BigInt(s.endTimeUnixNano),
          attributes: record(s.attributes),
          links: (s.links ?? []).map((l: any) => ({ traceId: l.traceId, spanId: l.spanId })),
          resource
        })
      )
    )
  })

export const startOtlpReceiver = (): Promise<OtlpReceiver> =>
  new Promise((ready) => {
    const spans: Array<ReceivedSpan> = []
    const headers: Array<IncomingHttpHeaders> = []
    const listeners = new Set<() => void>()
    let requests = 0
    const server = createServer((req, res) => {
      let body = ""
      req.setEncoding("utf8")
      req.on("data", (chunk) => {
        body += chunk
      })
      req.on("end", () => {
        requests++
        headers.push(req.headers)
        if (req.method !== "POST" || req.url !== "/v1/traces" || !req.headers["content-type"]?.includes("json")) {
          res.writeHead(400).end()
        } else {
          spans.push(...decode(JSON.parse(body)))
          res.writeHead(200, { "content-type": "application/json" }).end("{}")
        }
        for (const listener of [...listeners]) listener()
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      ready({
        url: `http://127.0.0.1:${port}`,
        spans,
        requests: () => requests,
        headers,
        waitFor: (find, timeoutMs = 60_000) =>
          new Promise((done, fail) => {
            const check = () => {
              const found = find(spans)
              if (found === undefined) return
              listeners.delete(check)
              clearTimeout(timer)
              done(found)
            }
            const timer = setTimeout(() => {
              listeners.delete(check)
              fail(new Error(`spans not found in ${timeoutMs} ms; got: ${spans.map((s) => s.name).join(", ")}`))
            }, timeoutMs)
            listeners.add(check)
            check()
          }),
        close: () =>
          new Promise((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })
