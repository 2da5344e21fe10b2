import { Schema } from "effect"
import { SessionId } from "./ids.ts"
import { trimmedText } from "./text.ts"
import { Email, Password, Username, UserView } from "./user.ts"

export class SignupRequest extends Schema.Class<SignupRequest>("SignupRequest")({
  username: Username,
  email: Email,
  password: Password
}) {}

export class LoginRequest extends Schema.Class<LoginRequest>("LoginRequest")({
  email_or_username: trimmedText("email_or_username", 254),
  password: Password
}) {}

/** Opaque refresh tokens are 43 base64url characters; anything far larger is junk. */
export const RefreshToken = Schema.String.check(
  Schema.isMinCodePoints(1, { message: "refresh_token must not be empty" }),
  Schema.isMaxCodePoints(512, { message: "refresh_token must be at most 512 characters" })
)

export class RefreshRequest extends Schema.Class<RefreshRequest>("RefreshRequest")({
  refresh_token: RefreshToken
}) {}

export class TokenResponse extends Schema.Class<TokenResponse>("TokenResponse")({
  token: Schema.String,
  refresh_token: Schema.String,
  token_type: Schema.Literal("Bearer"),
  expires_in: Schema.Int,
  session_id: SessionId,
  user: UserView
}) {}

export class SessionView extends Schema.Class<SessionView>("SessionView")({
  id: SessionId,
  created_at: Schema.String,
  last_used_at: Schema.String,
  expires_at: Schema.String,
  user_agent: Schema.NullOr(Schema.String),
  ip: Schema.NullOr(Schema.String),
  current: Schema.Boolean
}) {}

export class SessionList extends Schema.Class<SessionList>("SessionList")({
  sessions: Schema.Array(SessionView)
}) {}
