import { Users } from "@parley/storage"
import { Effect, Option } from "effect"
import { unavailable } from "../storage-errors.ts"

/**
 * What login limits count an attempt against: the account's id when the login names one, so
 * its username and its email share one budget; otherwise the login itself, normalized, so
 * guessing at names that do not exist is limited too, by the same path and the same answers.
 */
export const loginAccountKey = (login: string) =>
  Effect.gen(function* () {
    const users = yield* Users
    const found = yield* unavailable(login.includes("@") ? users.findByEmail(login) : users.findByUsername(login))
    return Option.match(found, {
      onNone: () => `name:${login.normalize("NFKC").trim().toLowerCase()}`,
      onSome: (user) => `user:${user.id}`
    })
  })
