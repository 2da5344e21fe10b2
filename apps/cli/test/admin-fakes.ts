/** In-process doubles for the admin CLI's unit tests: a recording Io and a scripted HTTP server. */
import { mkdtempSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach } from "vitest"
import type { Io } from "../src/admin/io.ts"
import { run } from "../src/admin/program.ts"

export interface Recorded {
  readonly io: Io
  readonly out: () => string
  readonly err: () => string
}

/** An Io writing into strings, with its own empty XDG config folder and piped stdin. */
export const fakeIo = (options: { readonly stdin?: string; readonly env?: NodeJS.ProcessEnv } = {}): Recorded => {
  let out = ""
  let err = ""
  const io: Io = {
    out: (text) => {
      out += text
    },
    err: (text) => {
      err += text
    },
    env: { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), "parley-admin-unit-")), ...options.env },
    stdinIsTTY: false,
    readStdin: async () => options.stdin ?? "",
    prompt: async () => {
      throw new Error("no terminal in tests")
    },
    hostname: () => "test-host"
  }
  return { io, out: () => out, err: () => err }
}

export const runWith = async (recorded: Recorded, ...argv: Array<string>) => run(argv, recorded.io)

export interface StubRequest {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly authorization: string | undefined
  readonly body: unknown
}

export type StubHandler = (request: StubRequest) => { readonly status: number; readonly body?: unknown }

/** An HTTP server answering every request with `handler`, recording what it was asked. */
export const stubServer = async (handler: StubHandler) => {
  const requests: Array<StubRequest> = []
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let text = ""
    for await (const chunk of req) text += chunk
    const url = new URL(req.url ?? "/", "http://stub")
    const request: StubRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
      body: text.length > 0 ? JSON.parse(text) : undefined
    }
    requests.push(request)
    const answer = handler(request)
    res.writeHead(answer.status, { "content-type": "application/json" })
    res.end(answer.body === undefined ? "" : JSON.stringify(answer.body))
  })
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
  const address = server.address()
  const port = typeof address === "object" && address ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((done) => server.close(() => done()))
  }
}

export const apiError = (status: number, code: string, message: string) => ({
  status,
  body: { error: { code, message } }
})

export const sampleUser = (overrides: Record<string, unknown> = {}) => ({
  id: "0b7c5d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
  username: "alice",
  email: "alice@example.com",
  role: "user",
  disabled: false,
  created_at: "2026-12-01T10:22:03.512Z",
  updated_at: "2026-12-01T10:22:03.512Z",
  ...overrides
})

/** A `/login` or `/api/refresh` answer. */
export const tokens = (token: string, refresh: string, expiresIn = 900) => ({
  token,
  refresh_token: refresh,
  token_type: "Bearer",
  expires_in: expiresIn,
  session_id: "5d3e0b7c-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
  user: {
    id: "9d0e0b7c-1f2a-4b3c-8d4e-5f6a7b8c5d3e",
    username: "root",
    email: "root@example.com",
    role: "admin",
    created_at: "2026-12-01T10:22:03.512Z",
    updated_at: "2026-12-01T10:22:03.512Z"
  }
})

/** `serve(handler)` starts a stub server that is closed after each test of the calling file. */
export const stubServers = () => {
  let close: (() => Promise<void>) | undefined
  afterEach(async () => {
    await close?.()
    close = undefined
  })
  return async (handler: StubHandler) => {
    const stub = await stubServer(handler)
    close = stub.close
    return stub
  }
}
