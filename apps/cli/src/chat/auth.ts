/**
 * One signed-in session of `parley`: the access token (kept in memory only) and the refresh
 * token (kept in chat.json, rewritten on every rotation).
 *
 * Rules:
 * - The server rotates refresh tokens and treats a replayed one as theft, revoking the whole
 *   session. So there is never more than one refresh in flight: concurrent callers in this
 *   process share it, and other `parley` windows of the same session wait for it on the
 *   chat.json lock, then spend the token it saved rather than their own stale copy
 *   (`ConfigStore.rotate`).
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
  /** Resolves once the ended session's token is forgotten on disk. */
  private forgotten: Promise<void> = Promise.resolve()
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
    await store.saveSession(tokens)
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
    const sessionId = store.account()?.session_id
    if (sessionId === undefined || store.refreshToken() === undefined) return undefined
    try {
      const tokens = await store.rotate(undefined, (token) => spendRefreshToken(server, token))
      return tokens === undefined ? undefined : new AuthSession(server, store, tokens)
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        await store.forgetSession(sessionId)
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
    const held = { session_id: this.tokens.session_id, refresh_token: this.tokens.refresh_token }
    let tokens: TokenResponse | undefined
    try {
      tokens = await this.store.rotate(held, (token) => spendRefreshToken(this.server, token))
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error
    }
    if (tokens === undefined) {
      const ended = this.endSession()
      await this.forgotten
      throw ended
    }
    this.adopt(tokens)
    return tokens.token
  }

  /**
   * Marks the session over (also used when the server closes a socket with 4003): its stored
   * token is forgotten (`forgotten` resolves when that is on disk) and listeners hear it once.
   */
  endSession(error = new SignedOutError()): SignedOutError {
    if (this.signedOut) return error
    this.signedOut = true
    this.clearTimer()
    // A read-only config folder must not turn a sign-out into a crash.
    this.forgotten = this.store.forgetSession(this.tokens.session_id).catch(() => {})
    for (const listener of this.signedOutListeners) listener(error)
    return error
  }

  /** Sends with a fresh access token; a 401 refreshes the token and sends once more. */
  private async authorized<A>(send: (accessToken: string) => Promise<A>): Promise<A> {
    const token = await this.accessToken()
    try {
      return await send(token)
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error
    }
    return send(await this.refresh())
  }

  /** An authenticated API call; a 401 refreshes the token and retries once. */
  call<S extends Schema.Top>(path: string, options: Omit<RequestOptions<S>, "token"> = {}): Promise<S["Type"]> {
    return this.authorized((token) => request(this.server, path, { ...options, token }))
  }

  /**
   * Ends this session on the server (other devices stay signed in), then forgets the token.
   * It goes through the same refresh-on-401 as every call: an expired access token or a
   * refresh token another window has rotated since must not leave the session alive on the
   * server while this device forgets it. The token is forgotten only once the server has
   * ended the session, or when it already had (refresh refused, or the refresh token itself
   * refused); any other failure (server unreachable) is passed on with the session kept.
   */
  async logout(): Promise<void> {
    try {
      await this.authorized((token) =>
        request(this.server, "/api/logout", {
          method: "POST",
          token,
          // Read at each attempt: the refresh between the two may have rotated it.
          body: { refresh_token: this.tokens.refresh_token }
        })
      )
    } catch (error) {
      if (error instanceof SignedOutError) return void (await this.forgotten)
      if (!(error instanceof ApiError && error.code === "invalid_refresh_token")) throw error
    }
    this.endSession()
    await this.forgotten
  }

  /** Stops the refresh timer; the stored session stays for the next run. */
  close() {
    this.clearTimer()
  }

  private adopt(tokens: TokenResponse) {
    this.tokens = tokens
    this.expiresAt = Date.now() + tokens.expires_in * 1000
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

/** One rotation at the server: the refresh token is spent, a new pair comes back. */
const spendRefreshToken = (server: string, refreshToken: string): Promise<TokenResponse> =>
  request(server, "/api/refresh", { method: "POST", body: { refresh_token: refreshToken }, schema: TokenResponse })
