import { EmailRegistered, type Role, type UserId, UsernameTaken } from "@parley/domain"
import type cassandra from "cassandra-driver"
import { Effect, Layer, Option, Schedule } from "effect"
import type { StorageError } from "../errors.ts"
import { keyBounds } from "../text-keys.ts"
import { emailKey, type UserRecord, Users, usernameKey } from "../users.ts"
import { CassandraClient, isUnknownOutcome, serialRead, uuid } from "./client.ts"
import { pageSkipping } from "./paging.ts"
import { readSession } from "./sessions.ts"
import { bumpTotal } from "./totals.ts"

/** The single partition of `user_directory` (see `cql/003_admin.cql`). */
const directory = 0

/** A reservation older than this whose user row never appeared came from a crashed signup. */
const orphanGraceMs = 60_000

type Reservation =
  | { readonly table: "users_by_username"; readonly key: string }
  | {
      readonly table: "users_by_email"
      readonly key: string
    }
const keyColumn = (r: Reservation) => (r.table === "users_by_username" ? "username" : "email")

const toRecord = (row: cassandra.types.Row): UserRecord => ({
  id: row.get("id").toString() as UserId,
  username: row.get("username"),
  email: row.get("email"),
  passwordHash: row.get("password_hash"),
  role: row.get("role") as Role,
  disabled: row.get("disabled") === true,
  createdAt: (row.get("created_at") as Date).getTime(),
  updatedAt: (row.get("updated_at") as Date).getTime()
})

export const CassandraUsers = Layer.effect(
  Users,
  Effect.gen(function* () {
    const db = yield* CassandraClient

    const findById = (id: UserId) =>
      db
        .execute(
          "users.findById",
          "SELECT id, username, email, password_hash, role, disabled, created_at, updated_at FROM users WHERE id = ?",
          [uuid(id)]
        )
        .pipe(Effect.map((rs) => Option.map(Option.fromNullishOr(rs.first()), toRecord)))

    const owner = (r: Reservation, options?: cassandra.QueryOptions) =>
      db
        .execute(
          "users.reservationOwner",
          `SELECT user_id, reserved_at FROM ${r.table} WHERE ${keyColumn(r)} = ?`,
          [r.key],
          options
        )
        .pipe(Effect.map((rs) => Option.fromNullishOr(rs.first())))

    /**
     * INSERT … IF NOT EXISTS. When the outcome is unknown (write timeout), the SERIAL read
     * that follows sees any Paxos round in flight, so it tells us whether we won.
     */
    const tryReserve = (r: Reservation, userId: UserId, now: number): Effect.Effect<boolean, StorageError> =>
      db
        .execute(
          "users.reserve",
          `INSERT INTO ${r.table} (${keyColumn(r)}, user_id, reserved_at) VALUES (?, ?, ?) IF NOT EXISTS`,
          [r.key, uuid(userId), new Date(now)]
        )
        .pipe(
          Effect.map((rs) => rs.wasApplied() || rs.first()?.get("user_id")?.toString() === userId),
          Effect.catchIf(isUnknownOutcome, () =>
            owner(r, serialRead).pipe(
              Effect.flatMap(
                Option.match({
                  onNone: () => tryReserve(r, userId, now),
                  onSome: (row) => Effect.succeed(row.get("user_id").toString() === userId)
                })
              )
            )
          ),
          Effect.retry({ while: isUnknownOutcome, schedule: Schedule.exponential("50 millis"), times: 3 })
        )

    /** Takes over an orphaned reservation (no user row, older than the grace period) by CAS. */
    const takeOverOrphan = Effect.fn("Users.takeOverOrphan")(function* (r: Reservation, userId: UserId, now: number) {
      const current = yield* owner(r, serialRead)
      if (Option.isNone(current)) return yield* tryReserve(r, userId, now)
      const holder = current.value.get("user_id").toString() as UserId
      const reservedAt = (current.value.get("reserved_at") as Date | null)?.getTime() ?? 0
      if (holder === userId) return true
      if (now - reservedAt < orphanGraceMs || Option.isSome(yield* findById(holder))) return false
      const rs = yield* db.execute(
        "users.takeOverReservation",
        `UPDATE ${r.table} SET user_id = ?, reserved_at = ? WHERE ${keyColumn(r)} = ? IF user_id = ?`,
        [uuid(userId), new Date(now), r.key, uuid(holder)]
      )
      return rs.wasApplied()
    })

    const reserve = (r: Reservation, userId: UserId, now: number) =>
      Effect.flatMap(tryReserve(r, userId, now), (won) => (won ? Effect.succeed(true) : takeOverOrphan(r, userId, now)))

    /** Conditional, so it can never remove a reservation that someone else holds. */
    const release = (r: Reservation, userId: UserId) =>
      db
        .execute("users.release", `DELETE FROM ${r.table} WHERE ${keyColumn(r)} = ? IF user_id = ?`, [
          r.key,
          uuid(userId)
        ])
        .pipe(
          Effect.retry({ schedule: Schedule.exponential("50 millis"), times: 3 }),
          // Left behind only if storage is down; `takeOverOrphan` reclaims it later.
          Effect.catch((error) => Effect.logWarning("could not release reservation", error)),
          Effect.asVoid
        )

    const findByReservation = (r: Reservation) =>
      owner(r).pipe(
        Effect.flatMap(
          Option.match({
            onNone: () => Effect.succeed(Option.none<UserRecord>()),
            onSome: (row) => findById(row.get("user_id").toString() as UserId)
          })
        )
      )

    return Users.of({
      create: Effect.fn("Users.create")(function* (user: UserRecord) {
        const username: Reservation = { table: "users_by_username", key: usernameKey(user.username) }
        const email: Reservation = { table: "users_by_email", key: emailKey(user.email) }
        if (!(yield* reserve(username, user.id, user.createdAt))) return yield* new UsernameTaken()
        const emailReserved = yield* reserve(email, user.id, user.createdAt).pipe(
          Effect.onError(() => release(username, user.id))
        )
        if (!emailReserved) {
          yield* release(username, user.id)
          return yield* new EmailRegistered()
        }
        // The user and its directory row in one logged batch: the directory never names a
        // user whose row was not written with it. (If the batch fails the reservations are
        // released; a directory row it may have left is skipped by `list`, and overwritten
        // by the next user who takes the name.)
        yield* db
          .batch("users.insert", [
            {
              query: `INSERT INTO users (id, username, email, password_hash, role, disabled, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
              params: [
                uuid(user.id),
                user.username,
                user.email,
                user.passwordHash,
                user.role,
                user.disabled,
                new Date(user.createdAt),
                new Date(user.updatedAt)
              ]
            },
            {
              query: "INSERT INTO user_directory (directory, username_key, user_id) VALUES (?, ?, ?)",
              params: [directory, usernameKey(user.username), uuid(user.id)]
            }
          ])
          .pipe(
            // Upserts by primary key: retrying is safe, and beats releasing a name whose row may exist.
            Effect.retry({ schedule: Schedule.exponential("50 millis"), times: 3 }),
            Effect.onError(() => Effect.andThen(release(username, user.id), release(email, user.id)))
          )
        yield* bumpTotal(db, "users", 1)
        return user
      }),
      findById,
      // Two partitions: both read at once.
      findWithSession: (id, sessionId) =>
        Effect.map(Effect.all([findById(id), readSession(db, sessionId)], { concurrency: 2 }), ([user, session]) =>
          Option.map(user, (found) => ({
            user: found,
            session: Option.filter(session, (s) => s.userId === found.id)
          }))
        ),
      list: ({ prefix, after, limit }) => {
        const key = prefix === null ? "" : usernameKey(prefix)
        return pageSkipping({
          after,
          limit,
          read: (cursor, n) => {
            const bounds = keyBounds(key, cursor)
            if (bounds.empty) return Effect.succeed([])
            const { lower, upper } = bounds
            return db
              .execute(
                "users.list",
                `SELECT username_key, user_id FROM user_directory WHERE directory = ?${
                  lower ? ` AND username_key ${lower.inclusive ? ">=" : ">"} ?` : ""
                }${upper !== null ? " AND username_key < ?" : ""} LIMIT ?`,
                [directory, ...(lower ? [lower.key] : []), ...(upper !== null ? [upper] : []), n]
              )
              .pipe(Effect.map((rs) => rs.rows))
          },
          keyOf: (row) => row.get("username_key") as string,
          decode: (rows) =>
            Effect.forEach(
              rows,
              (row) =>
                findById(row.get("user_id").toString() as UserId).pipe(
                  Effect.map((user) =>
                    Option.getOrUndefined(
                      Option.filter(user, (u) => usernameKey(u.username) === row.get("username_key"))
                    )
                  )
                ),
              { concurrency: 16 }
            )
        })
      },
      findByUsername: (username) => findByReservation({ table: "users_by_username", key: usernameKey(username) }),
      findByEmail: (email) => findByReservation({ table: "users_by_email", key: emailKey(email) }),
      // Only the columns asked for, each its own cell: writing back the others as read would
      // undo a concurrent change to them (a role change re-enabling a user just disabled).
      // The read first keeps the UPDATE from creating a bare row for an unknown id; users are
      // never deleted, so the row cannot go away in between.
      update: Effect.fn("Users.update")(function* (id, changes, now) {
        if (Option.isNone(yield* findById(id))) return false
        const set: Array<[column: string, value: unknown]> = []
        if (changes.disabled !== undefined) set.push(["disabled", changes.disabled])
        if (changes.role !== undefined) set.push(["role", changes.role])
        if (changes.passwordHash !== undefined) set.push(["password_hash", changes.passwordHash])
        set.push(["updated_at", new Date(now)])
        yield* db.execute(
          "users.update",
          `UPDATE users SET ${set.map(([column]) => `${column} = ?`).join(", ")} WHERE id = ?`,
          [...set.map(([, value]) => value), uuid(id)]
        )
        return true
      })
    })
  })
)
