import {
  type CurrentUser,
  type EmailRegistered,
  Forbidden,
  InvalidCredentials,
  InvalidRefreshToken,
  type LoginRequest,
  NotFound,
  type Role,
  type ServiceUnavailable,
  type SessionId,
  SessionView,
  type SignupRequest,
  TokenResponse,
  Unauthorized,
  type UserId,
  type UsernameTaken,
  UserView,
  type WeakPassword
} from "@parley/domain"
import { type SessionRecord, Sessions, type UserRecord, Users } from "@parley/storage"
import { Clock, Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import { Revocations } from "../realtime/revocations.ts"
import { unavailable } from "../storage-errors.ts"
import { AccessTokens } from "./access-tokens.ts"
import { checkNewPassword } from "./password-policy.ts"
import { normalizePassword, PasswordHasher, verifyLogin, verifyNobody } from "./passwords.ts"
import { hashRefreshToken, newRefreshToken, rotationKey, successorToken } from "./refresh-tokens.ts"

export interface ClientInfo {
  readonly ip: string | null
  readonly userAgent: string | null
}

/** Who is calling: the same shape the HTTP API hands its handlers as `CurrentUser`. */
export type Caller = CurrentUser["Service"]

/** Built from a stored record, whose fields were checked when they were stored. */
export const toUserView = (u: UserRecord) =>
  new UserView(
    {
      id: u.id,
      username: u.username,
      email: u.email,
      role: u.role,
      created_at: new Date(u.createdAt).toISOString(),
      updated_at: new Date(u.updatedAt).toISOString()
    },
    { disableChecks: true }
  )

/**
 * A caller as storage knows them. The `UserView` is built on first use: a WebSocket keeps only
 * the id and username, and building the view was a twentieth of an upgrade's CPU.
 */
class StoredCaller implements Caller {
  readonly userId: UserId
  readonly sessionId: SessionId
  readonly username: string
  readonly role: Role
  readonly #record: UserRecord
  #user: UserView | undefined
  constructor(sessionId: SessionId, record: UserRecord) {
    this.userId = record.id
    this.sessionId = sessionId
    this.username = record.username
    this.role = record.role
    this.#record = record
  }
  get user() {
    this.#user ??= toUserView(this.#record)
    return this.#user
  }
}

/** How long sessions live, and how refresh tokens rotate. */
export interface SessionPolicy {
  readonly idle: Duration.Duration
  readonly absolute: Duration.Duration
  /**
   * How long the token a refresh just replaced still gets the same new pair (a client
   * retrying); zero (the default) makes every reuse a replay.
   */
  readonly refreshGrace?: Duration.Duration
  /**
   * Secrets successor tokens are derived from (`rotationKey`), signing one first: the JWT
   * secret and, during key rotation, the previous one. Default: a random key of this process.
   */
  readonly rotationSecrets?: ReadonlyArray<Redacted.Redacted<string>>
}

const accountDisabled = () => new Forbidden({ error: { code: "forbidden", message: "this account is disabled" } })

/**
 * Signup, login and the life of a session. Rules: a new password passes the password policy
 * (`weak_password` otherwise) and is hashed in its NFKC form; a login's password is checked
 * in that form, then as typed for hashes made before normalization, which are made again;
 * one generic 401 for unknown user and wrong password; refresh tokens rotate on every use;
 * a rotated token coming back is taken as theft and ends its whole session, unless it is a
 * retry within the grace window right after its rotation (`reused`); disabled users can
 * neither log in nor refresh.
 * A session that ends (logout, revoked, all of a user's sessions ended) ends everywhere at
 * once: storage first, so refresh and every access token of it fail from then on, then
 * `Revocations`, so its open WebSockets close on every node.
 */
export class Accounts extends Context.Service<
  Accounts,
  {
    readonly signup: (
      request: SignupRequest
    ) => Effect.Effect<UserView, WeakPassword | UsernameTaken | EmailRegistered | ServiceUnavailable>
    /** The account a login names (by email when it has an `@`, else by username), if any. */
    readonly findLoginAccount: (login: string) => Effect.Effect<Option.Option<UserRecord>, ServiceUnavailable>
    /**
     * `account`: what `findLoginAccount` returned for this login, when the caller needed it
     * already (the login limits do), so it is read once; otherwise it is looked up here.
     */
    readonly login: (
      request: LoginRequest,
      client: ClientInfo,
      account?: Option.Option<UserRecord>
    ) => Effect.Effect<TokenResponse, InvalidCredentials | Forbidden | ServiceUnavailable>
    readonly refresh: (
      refreshToken: string,
      bearerUserId: Option.Option<UserId>
    ) => Effect.Effect<TokenResponse, InvalidRefreshToken | ServiceUnavailable>
    readonly logout: (
      caller: Caller,
      refreshToken: string
    ) => Effect.Effect<void, InvalidRefreshToken | ServiceUnavailable>
    readonly authenticate: (accessToken: string) => Effect.Effect<Caller, Unauthorized | ServiceUnavailable>
    /**
     * The storage half of `authenticate`, for a token verified already (a WebSocket's, at its
     * upgrade and on every re-check after): the session lives and the user is enabled.
     */
    readonly authenticateSession: (
      userId: UserId,
      sessionId: SessionId
    ) => Effect.Effect<Caller, Unauthorized | ServiceUnavailable>
    readonly listSessions: (caller: Caller) => Effect.Effect<ReadonlyArray<SessionView>, ServiceUnavailable>
    readonly revokeSession: (caller: Caller, sessionId: SessionId) => Effect.Effect<void, NotFound | ServiceUnavailable>
    /** A user's live sessions, for operators (`current` is false). */
    readonly sessionsOf: (userId: UserId) => Effect.Effect<ReadonlyArray<SessionView>, ServiceUnavailable>
    /** One live session of `userId`, for operators; `not_found` when it is not theirs or has ended. */
    readonly sessionOf: (
      userId: UserId,
      sessionId: SessionId
    ) => Effect.Effect<SessionView, NotFound | ServiceUnavailable>
    /** Ends a session found with `sessionOf`: in storage, then its sockets on every node. */
    readonly endSession: (sessionId: SessionId) => Effect.Effect<void, ServiceUnavailable>
    /** Ends every session of the user and closes all their sockets; returns how many were live. */
    readonly endAllSessions: (userId: UserId) => Effect.Effect<number, ServiceUnavailable>
  }
>()("parley/server/auth/Accounts") {
  static readonly layer = (lifetimes: SessionPolicy) =>
    Layer.effect(
      Accounts,
      Effect.gen(function* () {
        const users = yield* Users
        const sessions = yield* Sessions
        const hasher = yield* PasswordHasher
        const tokens = yield* AccessTokens
        const revocations = yield* Revocations
        const idleMs = Duration.toMillis(lifetimes.idle)
        const absoluteMs = Duration.toMillis(lifetimes.absolute)
        const graceMs = Duration.toMillis(lifetimes.refreshGrace ?? Duration.zero)
        const rotationKeys = (lifetimes.rotationSecrets ?? [Redacted.make(newRefreshToken())]).map((secret) =>
          rotationKey(Redacted.value(secret))
        )

        const tokenResponse = Effect.fnUntraced(function* (
          user: UserRecord,
          sessionId: SessionId,
          refreshToken: string
        ) {
          const access = yield* tokens.issue(user.id, sessionId, user.role)
          return new TokenResponse({
            token: access.token,
            refresh_token: refreshToken,
            token_type: "Bearer",
            expires_in: access.expiresIn,
            session_id: sessionId,
            user: toUserView(user)
          })
        })

        const isLive = (s: SessionRecord, now: number) => !s.revoked && now < s.expiresAt && now < s.lastUsedAt + idleMs

        /** Revokes in storage, then tells every node to close the session's sockets. */
        const endSession = (sessionId: SessionId) =>
          Effect.andThen(sessions.revoke(sessionId), revocations.publish({ kind: "session", session_id: sessionId }))

        const toSessionView = (s: SessionRecord, current: SessionId | null) =>
          new SessionView({
            id: s.id,
            created_at: new Date(s.createdAt).toISOString(),
            last_used_at: new Date(s.lastUsedAt).toISOString(),
            expires_at: new Date(Math.min(s.expiresAt, s.lastUsedAt + idleMs)).toISOString(),
            user_agent: s.userAgent,
            ip: s.ip,
            current: s.id === current
          })

        const sessionViews = Effect.fnUntraced(function* (userId: UserId, current: SessionId | null) {
          const now = yield* Clock.currentTimeMillis
          const all = yield* sessions.listByUser(userId)
          return all.filter((s) => isLive(s, now)).map((s) => toSessionView(s, current))
        })

        /**
         * A hash made before passwords were normalized, made again from the NFKC form. A failure
         * only leaves the old hash, which still verifies: the login goes on and the next one retries.
         */
        const rehash = (user: UserRecord, password: string) =>
          Effect.gen(function* () {
            const passwordHash = yield* hasher.hash(normalizePassword(password))
            yield* users.update(user.id, { passwordHash }, yield* Clock.currentTimeMillis)
            yield* Effect.logInfo("password hash upgraded to the NFKC form").pipe(
              Effect.annotateLogs({ user_id: user.id })
            )
          }).pipe(
            Effect.catch((error) =>
              Effect.logWarning("password hash upgrade failed; the old hash stays", error).pipe(
                Effect.annotateLogs({ user_id: user.id })
              )
            )
          )

        const findLogin = (login: string) =>
          login.includes("@") ? users.findByEmail(login) : users.findByUsername(login)

        /** The session's live user, or the refusal every failed refresh gets. */
        const liveUser = Effect.fnUntraced(function* (session: SessionRecord) {
          const user = yield* users.findById(session.userId)
          if (Option.isNone(user) || user.value.disabled) return yield* new InvalidRefreshToken()
          return user.value
        })

        /** A copy of the token this session's latest rotation replaced, back within the grace window. */
        const isGraceCopy = (session: SessionRecord, presented: string, now: number) =>
          graceMs > 0 &&
          session.rotation !== undefined &&
          session.rotation.previousHash === presented &&
          now - session.rotation.at < graceMs

        /**
         * A refresh token that is not the session's current one. Within the grace window after it
         * was rotated away (a retry, or the loser of two refreshes racing), it gets the pair its
         * first use got: the successor, derived again (under the signing key, or a node's previous
         * one mid key rotation), and an access token of the same session. Otherwise it is a replay
         * and ends the session.
         */
        const reused = Effect.fnUntraced(function* (session: SessionRecord, refreshToken: string, presented: string) {
          const now = yield* Clock.currentTimeMillis
          if (!isGraceCopy(session, presented, now)) {
            yield* Effect.logWarning("rotated refresh token replayed; revoking its session").pipe(
              Effect.annotateLogs({ session_id: session.id, user_id: session.userId })
            )
            yield* endSession(session.id)
            return yield* new InvalidRefreshToken()
          }
          const successor = rotationKeys
            .map((key) => successorToken(key, refreshToken))
            .find((token) => hashRefreshToken(token) === session.currentHash)
          // Rotated under a key this node does not hold: refused, but no evidence of theft.
          if (successor === undefined) {
            yield* Effect.logWarning("refresh retried within the grace window under an unknown key").pipe(
              Effect.annotateLogs({ session_id: session.id })
            )
            return yield* new InvalidRefreshToken()
          }
          const user = yield* liveUser(session)
          yield* Effect.logInfo("refresh retried within the grace window; same pair again").pipe(
            Effect.annotateLogs({ session_id: session.id, user_id: session.userId })
          )
          return yield* tokenResponse(user, session.id, successor)
        })

        const refresh = Effect.fn("Accounts.refresh")(function* (
          refreshToken: string,
          bearerUserId: Option.Option<UserId>
        ) {
          const now = yield* Clock.currentTimeMillis
          const presented = hashRefreshToken(refreshToken)
          const owner = yield* sessions.findByTokenHash(presented)
          if (Option.isNone(owner)) return yield* new InvalidRefreshToken()
          if (Option.isSome(bearerUserId) && bearerUserId.value !== owner.value.userId)
            return yield* new InvalidRefreshToken()
          const session = yield* sessions.get(owner.value.sessionId)
          if (Option.isNone(session) || !isLive(session.value, now)) return yield* new InvalidRefreshToken()
          if (session.value.currentHash !== presented) return yield* reused(session.value, refreshToken, presented)
          const user = yield* liveUser(session.value)
          const next = successorToken(rotationKeys[0]!, refreshToken)
          const rotated = yield* sessions.rotate({
            session: session.value,
            fromHash: presented,
            toHash: hashRefreshToken(next),
            now
          })
          if (rotated) return yield* tokenResponse(user, session.value.id, next)
          // Lost the compare-and-set to another use of the same token (or a revoke): judged on
          // what that one stored, like any token that is no longer current.
          const after = yield* sessions.get(session.value.id)
          if (Option.isNone(after) || !isLive(after.value, yield* Clock.currentTimeMillis))
            return yield* new InvalidRefreshToken()
          return yield* reused(after.value, refreshToken, presented)
        })

        const authenticateSession = Effect.fnUntraced(function* (userId: UserId, sessionId: SessionId) {
          const found = yield* users.findWithSession(userId, sessionId)
          const now = yield* Clock.currentTimeMillis
          if (Option.isNone(found) || found.value.user.disabled) return yield* new Unauthorized()
          // `session` is none for another user's session too.
          const { user, session } = found.value
          if (Option.isNone(session) || !isLive(session.value, now)) return yield* new Unauthorized()
          return new StoredCaller(sessionId, user)
        })

        return Accounts.of({
          signup: Effect.fn("Accounts.signup")(function* (request) {
            const password = yield* checkNewPassword(request.password)
            const now = yield* Clock.currentTimeMillis
            const passwordHash = yield* hasher.hash(password)
            const user = yield* users.create({
              id: crypto.randomUUID() as UserId,
              username: request.username,
              email: request.email,
              passwordHash,
              role: "user",
              disabled: false,
              createdAt: now,
              updatedAt: now
            })
            yield* Effect.logInfo("user signed up").pipe(Effect.annotateLogs({ user_id: user.id }))
            return toUserView(user)
          }, unavailable),

          findLoginAccount: (login) => unavailable(findLogin(login)),

          login: Effect.fn("Accounts.login")(function* (request, client, account) {
            const found = account ?? (yield* findLogin(request.email_or_username))
            if (Option.isNone(found)) {
              yield* verifyNobody(hasher, request.password)
              return yield* new InvalidCredentials()
            }
            const user = found.value
            const match = yield* verifyLogin(hasher, user.passwordHash, request.password)
            if (match === "mismatch") return yield* new InvalidCredentials()
            // Only someone who knows the password learns that the account is disabled.
            if (user.disabled) return yield* accountDisabled()
            if (match === "legacy") yield* rehash(user, request.password)
            const now = yield* Clock.currentTimeMillis
            const refreshToken = newRefreshToken()
            const session: SessionRecord = {
              id: crypto.randomUUID() as SessionId,
              userId: user.id,
              currentHash: hashRefreshToken(refreshToken),
              createdAt: now,
              lastUsedAt: now,
              expiresAt: now + absoluteMs,
              revoked: false,
              userAgent: client.userAgent?.slice(0, 256) ?? null,
              ip: client.ip
            }
            yield* sessions.create(session)
            // A disable may have landed since `user` was read (the password check is slow), and
            // its `endAllSessions` may have listed the sessions before this one existed: read the
            // account again now that the session is stored, and end the session if it is disabled.
            // Either that listing saw this session, or this read sees the disable.
            const current = yield* users.findById(user.id)
            if (Option.isNone(current) || current.value.disabled) {
              yield* sessions.revoke(session.id)
              if (Option.isNone(current)) return yield* new InvalidCredentials()
              return yield* accountDisabled()
            }
            return yield* tokenResponse(current.value, session.id, refreshToken)
          }, unavailable),

          refresh: (token, bearer) => unavailable(refresh(token, bearer)),

          logout: Effect.fn("Accounts.logout")(function* (caller, refreshToken) {
            const owner = yield* sessions.findByTokenHash(hashRefreshToken(refreshToken))
            if (Option.isNone(owner) || owner.value.userId !== caller.userId) return yield* new InvalidRefreshToken()
            yield* endSession(owner.value.sessionId)
          }, unavailable),

          authenticate: Effect.fn("Accounts.authenticate")(function* (accessToken) {
            const claims = yield* tokens.verify(accessToken)
            return yield* authenticateSession(claims.sub, claims.sid)
          }, unavailable),
          authenticateSession: (userId, sessionId) => unavailable(authenticateSession(userId, sessionId)),

          listSessions: Effect.fn("Accounts.listSessions")(function* (caller) {
            return yield* sessionViews(caller.userId, caller.sessionId)
          }, unavailable),

          revokeSession: Effect.fn("Accounts.revokeSession")(function* (caller, sessionId) {
            const session = yield* sessions.get(sessionId)
            // Someone else's session is "not found", so ids cannot be probed.
            if (Option.isNone(session) || session.value.userId !== caller.userId) return yield* new NotFound()
            yield* endSession(sessionId)
          }, unavailable),

          sessionsOf: Effect.fn("Accounts.sessionsOf")(function* (userId) {
            return yield* sessionViews(userId, null)
          }, unavailable),

          sessionOf: Effect.fn("Accounts.sessionOf")(function* (userId, sessionId) {
            const now = yield* Clock.currentTimeMillis
            const session = yield* sessions.get(sessionId)
            // Any other user's session is "not found" too, whoever it belongs to.
            if (Option.isNone(session) || session.value.userId !== userId || !isLive(session.value, now)) {
              return yield* new NotFound({ error: { code: "not_found", message: "no such session for this user" } })
            }
            return toSessionView(session.value, null)
          }, unavailable),

          endSession: Effect.fn("Accounts.endSession")(function* (sessionId) {
            yield* endSession(sessionId)
          }, unavailable),

          endAllSessions: Effect.fn("Accounts.endAllSessions")(function* (userId) {
            const now = yield* Clock.currentTimeMillis
            const all = yield* sessions.listByUser(userId)
            yield* Effect.forEach(
              all.filter((s) => !s.revoked),
              (s) => sessions.revoke(s.id),
              { concurrency: 8, discard: true }
            )
            // One message for the user rather than one per session: every socket of theirs closes.
            yield* revocations.publish({ kind: "user", user_id: userId })
            return all.filter((s) => isLive(s, now)).length
          }, unavailable)
        })
      })
    )
}
