/**
 * What `parley` remembers between runs, in `chat.json` under the XDG config directory (mode
 * 0600, see config-file.ts): per server, the signed-in user and the session the next run
 * resumes; per session, its current refresh token. (What was read where is the server's: read
 * markers, the same on every device.)
 *
 * Several `parley` windows of one user share the file, and the file is where a session's
 * refresh token lives: the server rotates it on every refresh and ends the whole session when
 * a rotated one is replayed. So:
 * - every change to the file is a read-modify-write under `chat.json.lock` (shared/file-lock.ts):
 *   no window writes back a token that another has replaced meanwhile;
 * - a refresh (`rotate`) happens under that lock too, and spends the newest token the file
 *   holds for the session, so a window whose copy went stale (another window of the same
 *   session rotated it) adopts the newer one instead of replaying its own.
 * A file that does not decode is treated as empty.
 */
import type { TokenResponse } from "@parley/domain"
import { Schema } from "effect"
import { readConfigFile, writeConfigFile } from "../shared/config-file.ts"
import { withFileLock } from "../shared/file-lock.ts"

export const configFileName = "chat.json"

const Account = Schema.Struct({
  username: Schema.String,
  user_id: Schema.String,
  /** The session the next run resumes; its refresh token is in `sessions`. */
  session_id: Schema.optionalKey(Schema.String)
})
export type Account = typeof Account.Type

/** A session's current refresh token, and when it was saved (epoch ms). */
const StoredToken = Schema.Struct({ refresh_token: Schema.String, saved_at: Schema.Number })

const ChatConfig = Schema.Struct({
  /** The server used last, the default when neither `--server` nor `PARLEY_URL` is given. */
  server: Schema.optionalKey(Schema.String),
  /** Per server. */
  accounts: Schema.optionalKey(Schema.Record(Schema.String, Account)),
  /**
   * session id → its refresh token. Keyed by session, not by account: a window signed in to
   * a session that is no longer the account's (a later sign-in elsewhere replaced it) still
   * finds its own session's newest token here.
   */
  sessions: Schema.optionalKey(Schema.Record(Schema.String, StoredToken))
})
type ChatConfig = typeof ChatConfig.Type

const decode = Schema.decodeUnknownOption(ChatConfig)

/** A token not rotated for this long belongs to a session the server has ended (30-day default lifetime). */
const forgetTokensAfterMs = 31 * 24 * 3600_000

/** The session this process holds: its id and the refresh token it last received. */
export interface HeldSession {
  readonly session_id: string
  readonly refresh_token: string
}

export class ConfigStore {
  readonly server: string
  readonly env: NodeJS.ProcessEnv
  private readonly pending = new Set<Promise<unknown>>()

  constructor(server: string, env: NodeJS.ProcessEnv = process.env) {
    this.server = server
    this.env = env
  }

  private read(): ChatConfig {
    const parsed = decode(readConfigFile(configFileName, this.env))
    return parsed._tag === "Some" ? parsed.value : {}
  }

  /** Holds the lock, and is remembered until done so `flush` can wait for it. */
  private locked<A>(f: () => Promise<A>): Promise<A> {
    const run = withFileLock(this.env, configFileName, f)
    const tracked = run.then(
      () => {},
      () => {}
    )
    this.pending.add(tracked)
    void tracked.then(() => this.pending.delete(tracked))
    return run
  }

  /** Read-modify-write of this server's account and the session tokens; only ever called holding the lock. */
  private write(
    change: (account: Account | undefined, sessions: Record<string, typeof StoredToken.Type>) => Account | undefined
  ) {
    const config = this.read()
    const accounts = { ...config.accounts }
    const sessions = { ...config.sessions }
    const next = change(accounts[this.server], sessions)
    if (next === undefined) delete accounts[this.server]
    else accounts[this.server] = next
    const now = Date.now()
    const current = new Set(Object.values(accounts).map((a) => a.session_id))
    for (const [id, stored] of Object.entries(sessions)) {
      if (!current.has(id) && now - stored.saved_at > forgetTokensAfterMs) delete sessions[id]
    }
    writeConfigFile(configFileName, { ...config, server: this.server, accounts, sessions }, this.env)
  }

  private update(
    change: (account: Account | undefined, sessions: Record<string, typeof StoredToken.Type>) => Account | undefined
  ): Promise<void> {
    return this.locked(async () => this.write(change))
  }

  /** The server named in the file as used last, if any. */
  static lastServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
    const parsed = decode(readConfigFile(configFileName, env))
    return parsed._tag === "Some" ? parsed.value.server : undefined
  }

  account(): Account | undefined {
    return this.read().accounts?.[this.server]
  }

  /** The refresh token of the session the next run resumes, if any. */
  refreshToken(): string | undefined {
    const config = this.read()
    const sessionId = config.accounts?.[this.server]?.session_id
    return sessionId === undefined ? undefined : config.sessions?.[sessionId]?.refresh_token
  }

  /** Resolves once every change started so far is on disk and the lock released (before exiting). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending)
  }

  /** After a sign-in: the new session, resumed by the next run (per-room marks kept for the same user). */
  saveSession(tokens: TokenResponse): Promise<void> {
    return this.update((account, sessions) => {
      sessions[tokens.session_id] = { refresh_token: tokens.refresh_token, saved_at: Date.now() }
      return accountOf(account, tokens)
    })
  }

  /**
   * Spends a refresh token and saves the one that replaces it, all under the lock. The token
   * spent is the newest the file holds for `held`'s session (whichever window rotated it
   * last), else `held`'s own. Without `held` (starting up): the account's session's token;
   * undefined when there is none. A failure of `spend` is passed on, the file untouched.
   */
  rotate(
    held: HeldSession | undefined,
    spend: (refreshToken: string) => Promise<TokenResponse>
  ): Promise<TokenResponse | undefined> {
    return this.locked(async () => {
      const config = this.read()
      const sessionId = held?.session_id ?? config.accounts?.[this.server]?.session_id
      if (sessionId === undefined) return undefined
      const token = config.sessions?.[sessionId]?.refresh_token ?? held?.refresh_token
      if (token === undefined) return undefined
      const tokens = await spend(token)
      this.write((account, sessions) => {
        delete sessions[sessionId]
        sessions[tokens.session_id] = { refresh_token: tokens.refresh_token, saved_at: Date.now() }
        // Another session replaced this one as the account's: that one stays the next run's.
        const replaced = account?.session_id !== undefined && account.session_id !== sessionId
        return replaced ? account : accountOf(account, tokens)
      })
      return tokens
    })
  }

  /**
   * The session is over (signed out, revoked): its token is forgotten, the per-room marks are
   * kept. Without an id: the account's session.
   */
  forgetSession(sessionId?: string): Promise<void> {
    return this.update((account, sessions) => {
      const id = sessionId ?? account?.session_id
      if (id !== undefined) delete sessions[id]
      if (account === undefined || account.session_id !== id) return account
      const { session_id: _, ...rest } = account
      return rest
    })
  }
}

const accountOf = (account: Account | undefined, tokens: TokenResponse): Account => ({
  ...(account?.user_id === tokens.user.id ? account : {}),
  username: tokens.user.username,
  user_id: tokens.user.id,
  session_id: tokens.session_id
})
