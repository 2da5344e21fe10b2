import WebSocket from "ws"
import { request, uniqueName } from "./http.ts"

export interface Closed {
  readonly code: number
  readonly reason: string
}

/** A real `ws` client that records every event it receives, for tests to wait on. */
export interface TestSocket {
  readonly ws: WebSocket
  /** Every server event so far, parsed, in arrival order. */
  readonly events: Array<any>
  readonly send: (event: unknown) => void
  /** Resolves with the first event (already received or future) that matches. */
  readonly next: (match: (event: any) => boolean, timeoutMs?: number) => Promise<any>
  /** The chat messages received for a room, in arrival order. */
  readonly messages: (roomId: string) => Array<any>
  readonly closed: Promise<Closed>
  readonly close: () => void
}

export const wsUrl = (httpUrl: string, params: Record<string, string> = {}) => {
  const url = new URL("/ws", httpUrl.replace(/^http/, "ws"))
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  return url.toString()
}

/** Opens `/ws`; rejects with the HTTP status when the upgrade is refused. */
export const connect = (
  httpUrl: string,
  options: { token?: string; roomId?: string; headers?: Record<string, string>; autoPong?: boolean } = {}
): Promise<TestSocket> =>
  new Promise((resolve, reject) => {
    const params: Record<string, string> = {}
    if (options.token !== undefined) params.token = options.token
    if (options.roomId !== undefined) params.room_id = options.roomId
    const ws = new WebSocket(wsUrl(httpUrl, params), {
      ...(options.headers === undefined ? {} : { headers: options.headers }),
      autoPong: options.autoPong ?? true
    })
    const events: Array<any> = []
    const waiters: Array<{ match: (e: any) => boolean; done: (e: any) => void }> = []
    const closed = new Promise<Closed>((done) =>
      ws.on("close", (code, reason) => done({ code, reason: reason.toString() }))
    )
    ws.on("message", (data) => {
      const event = JSON.parse(data.toString())
      events.push(event)
      for (const waiter of [...waiters]) {
        if (waiter.match(event)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.done(event)
        }
      }
    })
    ws.on("unexpected-response", (_req, res) => {
      let body = ""
      res.on("data", (chunk) => {
        body += chunk
      })
      res.on("end", () =>
        reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body }))
      )
    })
    ws.on("error", (error) => reject(error))
    ws.on("open", () =>
      resolve({
        ws,
        events,
        send: (event) => ws.send(typeof event === "string" ? event : JSON.stringify(event)),
        next: (match, timeoutMs = 10_000) => {
          const found = events.find(match)
          if (found !== undefined) return Promise.resolve(found)
          return new Promise((done, fail) => {
            const timer = setTimeout(
              () =>
                fail(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events.slice(-5))}`)),
              timeoutMs
            )
            waiters.push({
              match,
              done: (e) => {
                clearTimeout(timer)
                done(e)
              }
            })
          })
        },
        messages: (roomId) => events.filter((e) => e.type === "chat.message" && e.payload.room_id === roomId),
        closed,
        close: () => ws.close()
      })
    )
  })

export interface Account {
  readonly id: string
  readonly username: string
  readonly token: string
  readonly refreshToken: string
  readonly sessionId: string
}

/** Signs up and logs in; everything a test needs to act as, or against, that session. */
export const account = async (base: string, prefix = "ws"): Promise<Account> => {
  const username = uniqueName(prefix)
  const signup = await request(base, "POST", "/signup", {
    body: { username, email: `${username}@example.com`, password: "secret12" }
  })
  if (signup.status !== 201) throw new Error(`signup failed: ${JSON.stringify(signup.body)}`)
  return { id: signup.body.id, username, ...(await login(base, username)) }
}

export const login = async (base: string, username: string) => {
  const res = await request(base, "POST", "/login", { body: { email_or_username: username, password: "secret12" } })
  if (res.status !== 200) throw new Error(`login failed: ${JSON.stringify(res.body)}`)
  return {
    token: res.body.token as string,
    refreshToken: res.body.refresh_token as string,
    sessionId: res.body.session_id
  }
}

export const createRoom = async (base: string, owner: Account, visibility: "public" | "private" = "public") => {
  const res = await request(base, "POST", "/api/chat/rooms", {
    token: owner.token,
    body: { name: uniqueName("room"), visibility }
  })
  if (res.status !== 201) throw new Error(`room creation failed: ${JSON.stringify(res.body)}`)
  return res.body.room_id as string
}

/** Posts a message over HTTP; anything but 201 fails the test with the answer's body. */
export const postMessage = async <View = any>(base: string, who: Account, roomId: string, content: string) => {
  const res = await request<View>(base, "POST", `/api/chat/rooms/${roomId}/messages`, {
    token: who.token,
    body: { content }
  })
  if (res.status !== 201) throw new Error(`post failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

export const joinRoom = async (base: string, roomId: string, who: Account) => {
  const res = await request(base, "POST", `/api/chat/rooms/${roomId}/join`, { token: who.token })
  if (res.status !== 200) throw new Error(`join failed: ${res.status} ${JSON.stringify(res.body)}`)
}
