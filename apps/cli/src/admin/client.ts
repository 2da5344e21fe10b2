/**
 * Which server a command talks to and with which access token, and the authenticated call.
 *
 * Server: `--server`, else `PARLEY_URL`, else the server of the last `login`, else
 * http://localhost:8080. Token: `--token`, else `PARLEY_TOKEN` (used as given), else the saved
 * login for that server: its access token while it has more than a little life left,
 * otherwise a fresh one from the saved refresh token, whose rotated successor is saved.
 */
import { TokenResponse } from "@parley/domain"
import type { Schema } from "effect"
import { ApiError, type RequestOptions, request, resolveServer as resolveServerFrom } from "../shared/http.ts"
import { CliError, ExitCode } from "./exit-codes.ts"
import type { Io } from "./io.ts"
import { readLogins, type SavedLogin, updateLogin, withLoginLock } from "./login-store.ts"

/** The options every command inherits from the program. */
export interface GlobalOptions {
  readonly server?: string
  readonly token?: string
}

const nonEmpty = (value: string | undefined) => (value !== undefined && value.length > 0 ? value : undefined)

export const resolveServer = (options: GlobalOptions, io: Io): string =>
  resolveServerFrom(
    options.server,
    io.env,
    readLogins(io.env).current ?? undefined,
    (message) => new CliError(ExitCode.usage, message)
  )

/** An access token with less than this left is refreshed before use. */
const minLifeMs = 30_000

/** What `login` and every refresh save: the tokens of one session. */
export const savedFrom = (tokens: TokenResponse, now: number): SavedLogin => ({
  username: tokens.user.username,
  user_id: tokens.user.id,
  session_id: tokens.session_id,
  refresh_token: tokens.refresh_token,
  access_token: tokens.token,
  access_expires_at: now + tokens.expires_in * 1000
})

const notLoggedIn = (server: string) =>
  new CliError(ExitCode.notAuthenticated, `not logged in to ${server}: run \`parley-admin login\` or pass --token`)

const usable = (login: SavedLogin) =>
  login.access_token !== null && login.access_expires_at - Date.now() > minLifeMs ? login.access_token : undefined

/**
 * Refreshes the saved login; runs holding its lock. Reads the login again first: another
 * command may have refreshed it meanwhile.
 */
const refreshSaved = async (io: Io, server: string, stale: string | undefined): Promise<string> => {
  const login = readLogins(io.env).servers[server]
  if (login === undefined) throw notLoggedIn(server)
  const fresh = usable(login)
  if (fresh !== undefined && fresh !== stale) return fresh
  let tokens: TokenResponse
  try {
    tokens = await request(server, "/api/refresh", {
      method: "POST",
      body: { refresh_token: login.refresh_token },
      schema: TokenResponse
    })
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      throw new CliError(
        ExitCode.notAuthenticated,
        `the saved login for ${server} has expired or was revoked: run \`parley-admin login\``
      )
    }
    throw error
  }
  updateLogin(io.env, server, savedFrom(tokens, Date.now()))
  return tokens.token
}

/**
 * An access token from the saved login. `stale` is a token the server just refused: a
 * refresh is forced unless another process has already replaced it.
 */
export const savedAccessToken = async (io: Io, server: string, stale?: string): Promise<string> => {
  const current = readLogins(io.env).servers[server]
  if (current === undefined) throw notLoggedIn(server)
  const cached = usable(current)
  if (cached !== undefined && cached !== stale) return cached
  return withLoginLock(io.env, () => refreshSaved(io, server, stale), io.onLoginLockBusy)
}

export interface AdminClient {
  readonly server: string
  /** `request` with the access token added; a refused saved token is refreshed once and retried. */
  readonly call: <S extends Schema.Top = Schema.Top>(
    path: string,
    options?: Omit<RequestOptions<S>, "token">
  ) => Promise<S["Type"]>
}

export const connect = (options: GlobalOptions, io: Io): AdminClient => {
  const server = resolveServer(options, io)
  const explicit = nonEmpty(options.token) ?? nonEmpty(io.env.PARLEY_TOKEN)
  return {
    server,
    call: async (path, callOptions = {}) => {
      if (explicit !== undefined) return request(server, path, { ...callOptions, token: explicit })
      const token = await savedAccessToken(io, server)
      try {
        return await request(server, path, { ...callOptions, token })
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 401) throw error
        return request(server, path, { ...callOptions, token: await savedAccessToken(io, server, token) })
      }
    }
  }
}

/** Path segments built from user input are encoded, so `../` cannot reach another endpoint. */
export const segment = (value: string) => encodeURIComponent(value)
