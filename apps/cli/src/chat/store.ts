/**
 * What `parley` remembers between runs, in `chat.json` under the XDG config directory (mode
 * 0600, see config-file.ts): per server, the signed-in user's refresh token and, per room, the
 * last message seen there (so the room list can mark rooms with new messages).
 *
 * The file is re-read before every write, so two `parley` windows of one user do not undo
 * each other's changes; a file that does not decode is treated as empty.
 */
import { Schema } from "effect"
import { readConfigFile, writeConfigFile } from "../shared/config-file.ts"

export const configFileName = "chat.json"

const Account = Schema.Struct({
  username: Schema.String,
  user_id: Schema.String,
  refresh_token: Schema.optionalKey(Schema.String),
  /** room id → msg_id of the newest message shown in that room. */
  last_seen: Schema.optionalKey(Schema.Record(Schema.String, Schema.String))
})
export type Account = typeof Account.Type

const ChatConfig = Schema.Struct({
  /** The server used last, the default when neither `--server` nor `PARLEY_URL` is given. */
  server: Schema.optionalKey(Schema.String),
  accounts: Schema.optionalKey(Schema.Record(Schema.String, Account))
})
type ChatConfig = typeof ChatConfig.Type

const decode = Schema.decodeUnknownOption(ChatConfig)

export class ConfigStore {
  readonly server: string
  readonly env: NodeJS.ProcessEnv

  constructor(server: string, env: NodeJS.ProcessEnv = process.env) {
    this.server = server
    this.env = env
  }

  private read(): ChatConfig {
    const parsed = decode(readConfigFile(configFileName, this.env))
    return parsed._tag === "Some" ? parsed.value : {}
  }

  private update(change: (account: Account | undefined) => Account | undefined) {
    const config = this.read()
    const accounts = { ...config.accounts }
    const next = change(accounts[this.server])
    if (next === undefined) delete accounts[this.server]
    else accounts[this.server] = next
    writeConfigFile(configFileName, { ...config, server: this.server, accounts }, this.env)
  }

  /** The server named in the file as used last, if any. */
  static lastServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
    const parsed = decode(readConfigFile(configFileName, env))
    return parsed._tag === "Some" ? parsed.value.server : undefined
  }

  account(): Account | undefined {
    return this.read().accounts?.[this.server]
  }

  /** After a login or a refresh: the refresh token now in force (the previous one is dead). */
  saveSession(user: { readonly id: string; readonly username: string }, refreshToken: string) {
    this.update((account) => ({
      ...(account?.user_id === user.id ? account : {}),
      username: user.username,
      user_id: user.id,
      refresh_token: refreshToken
    }))
  }

  /** Signed out or revoked: the token is forgotten, the per-room marks are kept. */
  forgetSession() {
    this.update((account) => {
      if (account === undefined) return undefined
      const { refresh_token: _, ...rest } = account
      return rest
    })
  }

  lastSeen(roomId: string): string | undefined {
    return this.account()?.last_seen?.[roomId]
  }

  markSeen(roomId: string, msgId: string) {
    this.update((account) =>
      account === undefined ? undefined : { ...account, last_seen: { ...account.last_seen, [roomId]: msgId } }
    )
  }
}
