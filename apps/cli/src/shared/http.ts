/**
 * The clients' one way to call the HTTP API: JSON in, a domain Schema decoding the JSON
 * out, and every failure as an `ApiError` carrying the server's `{error: {code, message}}`.
 */
import { Schema } from "effect"

export class ApiError extends Error {
  /** HTTP status; 0 when the server could not be reached. */
  readonly status: number
  readonly code: string
  // Fields assigned by hand: Node's type stripping cannot run constructor parameter properties.
  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = "ApiError"
    this.status = status
    this.code = code
  }
}

export interface RequestOptions<S extends Schema.Top> {
  readonly method?: "GET" | "POST" | "PUT" | "DELETE"
  readonly token?: string | undefined
  readonly body?: unknown
  readonly query?: Record<string, string | number | undefined>
  /** Decodes a 2xx body; omitted for 204 answers. */
  readonly schema?: S
}

const ErrorBody = Schema.Struct({ error: Schema.Struct({ code: Schema.String, message: Schema.String }) })
const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

/** `https://host:port` without a trailing slash; the value of `--server` or `PARLEY_URL`. */
export const normalizeServer = (server: string) => server.replace(/\/+$/, "")

/** The server both clients talk to when none is named anywhere. */
export const defaultServer = "http://localhost:8080"

const nonEmpty = (value: string | undefined) => (value !== undefined && value.length > 0 ? value : undefined)

/**
 * The server to talk to: the `--server` flag, else `PARLEY_URL`, else the last one used, else
 * `defaultServer` (empty values count as unset), checked to be an http(s) URL and returned
 * without a trailing slash. A bad one is thrown as `invalid(message)`: each CLI passes its
 * own usage error.
 */
export const resolveServer = (
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  last: string | undefined,
  invalid: (message: string) => Error
): string => {
  const server = nonEmpty(flag) ?? nonEmpty(env.PARLEY_URL) ?? nonEmpty(last) ?? defaultServer
  let url: URL
  try {
    url = new URL(server)
  } catch {
    throw invalid(`the server must be a URL like ${defaultServer}, not "${server}"`)
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid(`the server must be an http:// or https:// URL, not "${server}"`)
  }
  return normalizeServer(server)
}

export const request = async <S extends Schema.Top = Schema.Top>(
  server: string,
  path: string,
  options: RequestOptions<S> = {}
): Promise<S["Type"]> => {
  const url = new URL(normalizeServer(server) + path)
  for (const [key, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value))
  }
  const headers: Record<string, string> = { accept: "application/json" }
  if (options.body !== undefined) headers["content-type"] = "application/json"
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  let response: Response
  try {
    response = await fetch(url, {
      method: options.method ?? "GET",
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(15_000)
    })
  } catch (cause) {
    const reason = cause instanceof Error && cause.cause instanceof Error ? cause.cause.message : String(cause)
    throw new ApiError(0, "unreachable", `cannot reach ${url.origin}: ${reason}`)
  }
  const text = await response.text()
  let json: unknown
  try {
    json = text.length === 0 ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  if (!response.ok) {
    const body = decodeErrorBody(json)
    if (body._tag === "Some") throw new ApiError(response.status, body.value.error.code, body.value.error.message)
    throw new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`)
  }
  if (options.schema === undefined) return undefined as S["Type"]
  try {
    return Schema.decodeUnknownSync(options.schema as any)(json) as S["Type"]
  } catch {
    throw new ApiError(response.status, "bad_response", `unexpected answer from ${url.pathname}`)
  }
}
