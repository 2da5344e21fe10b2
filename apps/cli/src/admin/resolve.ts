/**
 * `<user>` arguments: a user id, a username or an email address, as an operator has at hand.
 * Ids are used as they are (the endpoint answers 404 for an unknown one); names and emails
 * are looked up with the admin user search and must match exactly, ignoring case.
 */
import { AdminUserList } from "@parley/domain"
import { InvalidArgumentError } from "commander"
import { safeText } from "../shared/safe-text.ts"
import type { AdminClient } from "./client.ts"
import { CliError, ExitCode } from "./exit-codes.ts"

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const isUuid = (value: string) => uuid.test(value)

/** A commander argument parser for ids (sessions, rooms): anything else is a usage error. */
export const parseId =
  (what: string) =>
  (value: string): string => {
    if (!isUuid(value)) throw new InvalidArgumentError(`${what} must be a UUID`)
    return value.toLowerCase()
  }

/** A commander parser for `--limit`: the API's page sizes are 1 to 100. */
export const parseLimit = (value: string): number => {
  if (!/^[0-9]{1,3}$/.test(value) || Number(value) < 1 || Number(value) > 100) {
    throw new InvalidArgumentError("must be an integer from 1 to 100")
  }
  return Number(value)
}

/** The id of the user `input` names. */
export const resolveUserId = async (client: AdminClient, input: string): Promise<string> => {
  const wanted = input.trim()
  if (isUuid(wanted)) return wanted.toLowerCase()
  if (wanted.length === 0) throw new CliError(ExitCode.usage, "<user> must be a user id, a username or an email")
  const byEmail = wanted.includes("@")
  const page = await client.call("/api/admin/users", {
    query: { q: wanted, limit: byEmail ? 10 : 100 },
    schema: AdminUserList
  })
  const key = wanted.toLowerCase()
  const match = page.users.find((user) => (byEmail ? user.email : user.username).toLowerCase() === key)
  if (match === undefined) {
    throw new CliError(ExitCode.notFound, `no user with ${byEmail ? "email" : "username"} "${safeText(wanted)}"`)
  }
  return match.id
}
