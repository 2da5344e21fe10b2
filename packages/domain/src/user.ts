import { Schema } from "effect"
import { noControlChars } from "./chat.ts"
import { UserId } from "./ids.ts"

/** Letters, digits, `_`, `.` and `-`; 3 to 32 characters; compared case-insensitively. */
export const Username = Schema.Trimmed.check(
  noControlChars("username"),
  Schema.isMinLength(3),
  Schema.isMaxLength(32),
  Schema.isPattern(/^[A-Za-z0-9_.-]+$/, { message: "username may contain only letters, digits, '_', '.' and '-'" })
)

export const Email = Schema.Trimmed.check(
  Schema.isMaxLength(254),
  Schema.isPattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { message: "email must look like name@example.com" })
)

/** Bounded above so that hashing cost cannot be used against the server. */
export const Password = Schema.String.check(
  Schema.isMinLength(8, { message: "password must be at least 8 characters" }),
  Schema.isMaxLength(1024, { message: "password must be at most 1024 characters" })
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
