import { Schema } from "effect"
import { UserId } from "./ids.ts"
import { noControlChars, space } from "./text.ts"

/** Letters, digits, `_`, `.` and `-`; 3 to 32 characters; compared case-insensitively. */
export const Username = Schema.String.check(
  noControlChars("username"),
  Schema.isMinCodePoints(3, { message: "username must be at least 3 characters" }),
  Schema.isMaxCodePoints(32, { message: "username must be at most 32 characters" }),
  Schema.isPattern(/^[A-Za-z0-9_.-]+$/u, { message: "username may contain only letters, digits, '_', '.' and '-'" })
)

/** No whitespace anywhere, one `@`, a dot in the domain; at most 254 characters. */
export const Email = Schema.String.check(
  Schema.isMaxCodePoints(254, { message: "email must be at most 254 characters" }),
  Schema.isPattern(new RegExp(`^[^${space}@]+@[^${space}@]+\\.[^${space}@]+$`, "u"), {
    message: "email must look like name@example.com"
  })
)

/**
 * Bounded above so that hashing cost cannot be used against the server. Lengths count code
 * points (as NIST SP 800-63B and JSON Schema do), so `/openapi.json` states them exactly.
 */
export const Password = Schema.String.check(
  Schema.isMinCodePoints(8, { message: "password must be at least 8 characters" }),
  Schema.isMaxCodePoints(1024, { message: "password must be at most 1024 characters" })
)

export const Role = Schema.Literals(["user", "admin"])
export type Role = typeof Role.Type

/** A user as the API shows it: never the password hash. */
export class UserView extends Schema.Class<UserView>("UserView")({
  id: UserId,
  username: Schema.String,
  email: Schema.String,
  role: Role,
  created_at: Schema.String,
  updated_at: Schema.String
}) {}
