import type { UserRecord } from "@parley/storage"
import { Option } from "effect"

/**
 * What login limits count an attempt against: the account's id when the login names one, so
 * its username and its email share one budget; otherwise the login itself, normalized, so
 * guessing at names that do not exist is limited too, by the same path and the same answers.
 */
export const loginLimitKey = (login: string, account: Option.Option<UserRecord>) =>
  Option.match(account, {
    onNone: () => `name:${login.normalize("NFKC").trim().toLowerCase()}`,
    onSome: (user) => `user:${user.id}`
  })
