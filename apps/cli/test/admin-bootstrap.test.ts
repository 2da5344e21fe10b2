import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import type { UserId } from "@parley/domain"
import { AuditLog, SqliteStorage, type UserRecord, Users } from "@parley/storage"
import { Effect, Option } from "effect"
import { bootstrapAdmin, promoteToAdmin } from "../src/admin/bootstrap.ts"

const user = (username: string): UserRecord => ({
  id: crypto.randomUUID() as UserId,
  username,
  email: `${username}@example.com`,
  passwordHash: "$argon2id$fake",
  role: "user",
  disabled: false,
  createdAt: 1,
  updatedAt: 1
})

describe("bootstrap-admin", () => {
  it.effect("promotes the user and records it as the operator, with no actor id and no request id", () =>
    Effect.gen(function* () {
      const users = yield* Users
      const root = yield* users.create(user("Root"))
      const outcome = yield* promoteToAdmin("root", "operator@box")
      expect(outcome.kind).toBe("promoted")
      const stored = yield* users.findById(root.id)
      expect(Option.getOrThrow(stored).role).toBe("admin")
      const entries = yield* (yield* AuditLog).list({ before: null, limit: 10 })
      expect(entries).toHaveLength(1)
      expect(entries[0]).toMatchObject({
        actorId: null,
        actor: "operator@box",
        action: "user.bootstrap_admin",
        targetType: "user",
        targetId: root.id,
        detail: "role=admin",
        requestId: null
      })
    }).pipe(Effect.provide(SqliteStorage.layer(":memory:")))
  )

  it.effect("finds users by email; an admin already is left alone and not recorded again", () =>
    Effect.gen(function* () {
      const users = yield* Users
      yield* users.create(user("ops"))
      expect((yield* promoteToAdmin("OPS@example.com", "operator@box")).kind).toBe("promoted")
      expect((yield* promoteToAdmin("ops", "operator@box")).kind).toBe("already")
      expect(yield* (yield* AuditLog).list({ before: null, limit: 10 })).toHaveLength(1)
      expect((yield* promoteToAdmin("nobody", "operator@box")).kind).toBe("missing")
    }).pipe(Effect.provide(SqliteStorage.layer(":memory:")))
  )

  it("opens the storage its environment names, and refuses a data folder with no database in it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-bootstrap-"))
    try {
      const empty = await bootstrapAdmin("root", "operator@box", { PARLEY_STORAGE: "sqlite", PARLEY_DATA_DIR: dir })
      expect(empty).toEqual({ kind: "no-database", file: join(dir, "parley.db") })
      expect(existsSync(join(dir, "parley.db"))).toBe(false)

      await Effect.runPromise(
        Effect.flatMap(Users, (users) => users.create(user("root"))).pipe(
          Effect.provide(SqliteStorage.layer(join(dir, "parley.db")))
        )
      )
      const outcome = await bootstrapAdmin("root", "operator@box", { PARLEY_STORAGE: "sqlite", PARLEY_DATA_DIR: dir })
      expect(outcome.kind).toBe("promoted")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
