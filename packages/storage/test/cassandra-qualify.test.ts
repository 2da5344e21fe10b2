import { describe, expect, it } from "vitest"
import { qualify } from "../src/cassandra/client.ts"

describe("qualify", () => {
  it("prefixes the table of every DML statement with the keyspace", () => {
    expect(qualify("ks", "SELECT a, b FROM users WHERE id = ?")).toBe("SELECT a, b FROM ks.users WHERE id = ?")
    expect(qualify("ks", "INSERT INTO refresh_tokens (a) VALUES (?) USING TTL ?")).toBe(
      "INSERT INTO ks.refresh_tokens (a) VALUES (?) USING TTL ?"
    )
    expect(qualify("ks", "UPDATE sessions USING TTL ? SET revoked = true WHERE session_id = ?")).toBe(
      "UPDATE ks.sessions USING TTL ? SET revoked = true WHERE session_id = ?"
    )
    expect(qualify("ks", "DELETE FROM users_by_email WHERE email = ? IF user_id = ?")).toBe(
      "DELETE FROM ks.users_by_email WHERE email = ? IF user_id = ?"
    )
  })

  it("leaves already qualified tables and column names alone", () => {
    expect(qualify("ks", "SELECT release_version FROM system.local")).toBe("SELECT release_version FROM system.local")
    expect(qualify("ks", "SELECT from_id, into_x FROM t")).toBe("SELECT from_id, into_x FROM ks.t")
  })
})
