/**
 * One signed-in session of `parley`: the access token (kept in memory only) and the refresh
 * token (kept in chat.json, rewritten on every rotation).
 *
 * Rules:
 * - The server rotates refresh tokens and treats a replayed one as theft, revoking the whole
 *   session. So there is never more than one refresh in flight: concurrent callers share it.
 * - The access token is refreshed before it expires (at 80 % of its life), and again whenever
 *   the server says 401 (HTTP) or 4001 (WebSocket), so a long-running client never has to
 *   sign in again while its session lives.
 * - A refresh the server refuses means the session is over (logged out, revoked, user
 *   disabled): the stored token is forgotten and `onSignedOut` fires once.
 */
import { TokenResponse, UserView } from "@parley/domain"
import type { Schema } from "effect"
import { ApiError, type RequestOptions, request } from "../shared/http.ts"
import type { ConfigStore } from "./store.ts"

export class SignedOutError extends Error {
  readonly _tag = "SignedOutError"
  constructor(message = "signed out (session revoked or account disabled): sign in again") {
    super(message)
    this.name = "SignedOutError"
  }
}

export interface Credentials {
  readonly username: string
  readonly password: string
}

export class AuthSession {
  readonly server: string
  private readonly store: ConfigStore
  private tokens: TokenResponse
  private expiresAt: number
  private refreshing: Promise<string> | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private signedOut = false
  private readonly signedOutListeners = new Set<(error: SignedOutError) => void>()

  private constructor(server: string, store: ConfigStore, tokens: TokenResponse) {
    this.server = server
    this.store = store
    this.tokens = tokens
    this.expiresAt = 0
    this.adopt(tokens)
  }

  static async login(server: string, store: ConfigStore, credentials: Credentials): Promise<AuthSession> {
    const tokens = await request(server, "/login", {
      method: "POST",
      body: { email_or_username: credentials.username, password: credentials.password },
      schema: TokenResponse
    })
    return new AuthSession(server, store, tokens)
  }

  static async signup(
    server: string,
    store: ConfigStore,
    credentials: Credentials & { readonly email: string }
  ): Promise<AuthSession> {
    await request(server, "/signup", {
      method: "POST",
      body: { username: credentials.username, email: credentials.email, password: credentials.password },
      schema: UserView
    })
    return AuthSession.login(server, store, credentials)
  }

  /** The session saved by an earlier run, or undefined when there is none or it has ended. */
  static async resume(server: string, store: ConfigStore): Promise<AuthSession | undefined> {
    const refreshToken = store.account()?.refresh_token
    if (refreshToken === undefined) return undefined
    try {
      const tokens = await request(server, "/api/refresh", {
        method: "POST",
        body: { refresh_token: refreshToken },
        schema: TokenResponse
      })
      return new AuthSession(server, store, tokens)
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        store.forgetSession()
        return undefined
      }
      throw error
    }
  }

  get user(): UserView {
    return this.tokens.user
  }

  get sessionId(): string {
    return this.tokens.session_id
  }

  onSignedOut(listener: (error: SignedOutError) => void): () => void {
    this.signedOutListeners.add(listener)
    return () => this.signedOutListeners.delete(listener)
  }

  /** A token good for at least the next half minute. */
  async accessToken(): Promise<string> {
    if (this.signedOut) throw new SignedOutError()
    if (Date.now() < this.expiresAt - 30_000) return this.tokens.token
    return this.refresh()
  }

  /** Rotates the refresh token; concurrent callers share one request. */
  refresh(): Promise<string> {
    if (this.signedOut) return Promise.reject(new SignedOutError())
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined
    })
    return this.refreshing
  }

  private async doRefresh(): Promise<string> {
    try {
      const tokens = await request(this.server, "/api/refresh", {
        method: "POST",
        body: { refresh_token: this.tokens.refresh_token },
        schema: TokenResponse
      })
      this.adopt(tokens)
      return tokens.token
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw this.endSession()
      throw error
    }
  }

  /** Marks the session over (also used when the server closes a socket with 4003). */
  endSession(error = new SignedOutError()): SignedOutError {
    if (this.signedOut) return error
    this.signedOut = true
    this.clearTimer()
    this.store.forgetSession()
    for (const listener of this.signedOutListeners) listener(error)
    return error
  }

  /** An authenticated API call; a 401 refreshes the token and retries once. */
  async call<S extends Schema.Top>(path: string, options: Omit<RequestOptions<S>, "token"> = {}): Promise<S["Type"]> {
    const token = await this.accessToken()
    try {
      return await request(this.server, path, { ...options, token })
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error
    }
    return request(this.server, path, { ...options, token: await this.refresh() })
  }

  /** Ends this session on the server (other devices stay signed in) and forgets the token. */
  async logout(): Promise<void> {
    try {
      await request(this.server, "/api/logout", {
        method: "POST",
        token: this.tokens.token,
        body: { refresh_token: this.tokens.refresh_token }
      })
    } finally {
      this.endSession()
    }
  }

  /** Stops the refresh timer; the stored session stays for the next run. */
  close() {
    this.clearTimer()
  }

  private adopt(tokens: TokenResponse) {
    this.tokens = tokens
    this.expiresAt = Date.now() + tokens.expires_in * 1000
    this.store.saveSession(tokens.user, tokens.refresh_token)
    this.clearTimer()
    const delay = Math.max(5_000, tokens.expires_in * 800)
    this.timer = setTimeout(() => {
      // A failed proactive refresh is retried by the next call that needs a token.
      this.refresh().catch(() => {})
    }, delay)
    this.timer.unref()
  }

  private clearTimer() {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}
