/**
 * The saved login: `admin.json` in the XDG config folder (mode 0600), one entry per server,
 * holding the refresh token and the last access token with its expiry. Refresh tokens rotate
 * on every use and replaying a rotated one ends the whole session, so a refresh happens under
 * a lock file: two commands run at once never both spend the same refresh token.
 */
import { Schema } from "effect"
import { readConfigFile, writeConfigFile } from "../shared/config-file.ts"
import { withFileLock } from "../shared/file-lock.ts"

export const loginFile = "admin.json"

export const SavedLogin = Schema.Struct({
  username: Schema.String,
  user_id: Schema.String,
  session_id: Schema.String,
  refresh_token: Schema.String,
  access_token: Schema.NullOr(Schema.String),
  /** Epoch ms. */
  access_expires_at: Schema.Number
})
export type SavedLogin = typeof SavedLogin.Type

const LoginFile = Schema.Struct({
  /** The server of the last `login`: used when neither --server nor PARLEY_URL is given. */
  current: Schema.NullOr(Schema.String),
  servers: Schema.Record(Schema.String, SavedLogin)
})
type LoginFile = typeof LoginFile.Type

const empty: LoginFile = { current: null, servers: {} }
const decodeFile = Schema.decodeUnknownOption(LoginFile)

/** The file's content; a missing or unreadable file reads as no login at all. */
export const readLogins = (env: NodeJS.ProcessEnv): LoginFile => {
  const decoded = decodeFile(readConfigFile(loginFile, env))
  return decoded._tag === "Some" ? decoded.value : empty
}

export const saveLogin = (env: NodeJS.ProcessEnv, server: string, login: SavedLogin) => {
  const file = readLogins(env)
  writeConfigFile(loginFile, { current: server, servers: { ...file.servers, [server]: login } }, env)
}

/** Replaces a server's tokens after a refresh, leaving which server is current alone. */
export const updateLogin = (env: NodeJS.ProcessEnv, server: string, login: SavedLogin) => {
  const file = readLogins(env)
  writeConfigFile(loginFile, { current: file.current, servers: { ...file.servers, [server]: login } }, env)
}

export const forgetLogin = (env: NodeJS.ProcessEnv, server: string) => {
  const file = readLogins(env)
  const { [server]: _gone, ...servers } = file.servers
  writeConfigFile(loginFile, { current: file.current === server ? null : file.current, servers }, env)
}

/**
 * Runs `f` while holding `admin.json.lock`, so refreshes of one login never overlap;
 * `onBusy` is told each time the lock is found held by another and the wait goes on.
 */
export const withLoginLock = <A>(env: NodeJS.ProcessEnv, f: () => Promise<A>, onBusy?: () => void): Promise<A> =>
  withFileLock(env, loginFile, f, onBusy)
