import type { Role, UserId } from "@parley/domain"
import { Users } from "@parley/storage"
import { Effect, Layer } from "effect"
import { request } from "./http.ts"
import type { Backend, RunningServer } from "./server.ts"
import { type Account, account } from "./ws.ts"

/**
 * Writes a user's role (or disabled flag) straight into the server's storage, as the
 * operator's first-admin bootstrap does on the server's machine: no API is involved.
 */
export const writeUser = (
  backend: Backend,
  server: RunningServer,
  userId: string,
  changes: { readonly role?: Role; readonly disabled?: boolean }
) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const users = yield* Users
      if (!(yield* users.update(userId as UserId, changes, Date.now()))) throw new Error(`no user ${userId}`)
    }).pipe(Effect.provide(backend.storage(server.env).pipe(Layer.orDie)))
  )

/** A new account made admin through storage; its existing token carries the role at once. */
export const adminAccount = async (backend: Backend, server: RunningServer, prefix = "adm"): Promise<Account> => {
  const who = await account(server.url, prefix)
  await writeUser(backend, server, who.id, { role: "admin" })
  return who
}

/** Calls the admin API with an admin's token and a request id of the test's choosing. */
export const adminCall = (
  server: RunningServer,
  admin: Account,
  method: string,
  path: string,
  options: { body?: unknown; requestId?: string } = {}
) =>
  request(server.url, method, path, {
    token: admin.token,
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(options.requestId === undefined ? {} : { headers: { "x-request-id": options.requestId } })
  })
