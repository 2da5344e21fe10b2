export interface Reply<T = any> {
  readonly status: number
  readonly headers: Headers
  readonly body: T
}

/** A thin fetch wrapper: JSON in, JSON (or text) out, never throws on a status. */
export const request = async <T = any>(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; token?: string; headers?: Record<string, string> } = {}
): Promise<Reply<T>> => {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  let body: string | undefined
  if (options.rawBody !== undefined || options.body !== undefined) {
    headers["content-type"] ??= "application/json"
    body = options.rawBody ?? JSON.stringify(options.body)
  }
  const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed as T }
}

let counter = 0
/** A username unique across runs (tests may share one database). */
export const uniqueName = (prefix = "u") => `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}`

/** Polls until `check` passes or the deadline; the last failure is reported. */
export const eventually = async (check: () => void | Promise<void>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}
