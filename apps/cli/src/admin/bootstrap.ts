/**
 * The first admin: an operator on the server's own machine promotes an existing user by
 * opening the server's storage directly, with the server's own configuration
 * (`PARLEY_STORAGE`, `PARLEY_DATA_DIR`, `CASSANDRA_*`). No HTTP and no default password: only
 * someone who can read the server's database can do this. Works while the server runs.
 */
import { existsSync } from "node:fs"
import { type MessageId, makeTimeUuidClock } from "@parley/domain"
import { AuditLog, DataDir, StorageKind, sqliteFile, storageLayer, type UserRecord, Users } from "@parley/storage"
import { Clock, Config, ConfigProvider, Effect, Layer, Logger, Option, References } from "effect"

export type BootstrapOutcome =
  | { readonly kind: "promoted"; readonly user: UserRecord }
  | { readonly kind: "already"; readonly user: UserRecord }
  | { readonly kind: "missing" }
  | { readonly kind: "no-database"; readonly file: string }

/**
 * Makes the user named `input` (username or email) an admin. The audit entry is written
 * before the role changes, so no promotion can ever go unrecorded.
 */
export const promoteToAdmin = Effect.fn("bootstrapAdmin.promote")(function* (input: string, actor: string) {
  const users = yield* Users
  const audit = yield* AuditLog
  const found = input.includes("@") ? yield* users.findByEmail(input) : yield* users.findByUsername(input)
  if (Option.isNone(found)) return { kind: "missing" } as BootstrapOutcome
  const user = found.value
  if (user.role === "admin") return { kind: "already", user } as BootstrapOutcome
  const now = yield* Clock.currentTimeMillis
  yield* audit.append({
    id: makeTimeUuidClock().next(now) as MessageId,
    at: now,
    actorId: null,
    actor,
    action: "user.bootstrap_admin",
    targetType: "user",
    targetId: user.id,
    detail: "role=admin",
    requestId: null
  })
  yield* users.update(user.id, { role: "admin" }, now)
  return { kind: "promoted", user } as BootstrapOutcome
})

/** Opens the storage `env` configures, as the server would, and promotes the user. */
export const bootstrapAdmin = (input: string, actor: string, env: NodeJS.ProcessEnv): Promise<BootstrapOutcome> => {
  const program = Effect.gen(function* () {
    const options = yield* Config.all({ storage: StorageKind, dataDir: DataDir })
    // Opening SQLite creates a missing file: refuse instead, it means the wrong folder.
    if (options.storage === "sqlite" && !existsSync(sqliteFile(options.dataDir))) {
      return { kind: "no-database", file: sqliteFile(options.dataDir) } as BootstrapOutcome
    }
    return yield* promoteToAdmin(input, actor).pipe(Effect.provide(storageLayer(options)))
  })
  const environment = Layer.mergeAll(
    ConfigProvider.layer(ConfigProvider.fromEnv({ env: env as Record<string, string> })),
    // Storage warnings go to stderr; stdout carries only the outcome.
    Logger.layer([Logger.withConsoleError(Logger.formatSimple)]),
    Layer.succeed(References.MinimumLogLevel, "Warn")
  )
  return Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(environment)))
}
