import { copyFileSync, mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import cassandra from "cassandra-driver"
import { Effect } from "effect"
import type { CassandraConfig } from "../src/cassandra/client.ts"
import { createKeyspace, defaultMigrationsDir, migrate } from "../src/cassandra/migrate.ts"

/**
 * A fresh keyspace with migrations 1 to `version` applied and nothing after, and a client bound
 * to it: where an upgrade test writes rows the way that version wrote them.
 */
export const keyspaceAtVersion = async (settings: CassandraConfig, version: number) => {
  const options = { contactPoints: [...settings.contactPoints], localDataCenter: settings.localDataCenter }
  const admin = new cassandra.Client(options)
  await Effect.runPromise(createKeyspace(admin, settings))
  await admin.shutdown()
  const client = new cassandra.Client({ ...options, keyspace: settings.keyspace })
  const upTo = mkdtempSync(join(tmpdir(), "parley-cql-"))
  for (const file of readdirSync(defaultMigrationsDir)) {
    const at = /^(\d+)_/.exec(file)
    if (at !== null && Number(at[1]) <= version) copyFileSync(join(defaultMigrationsDir, file), join(upTo, file))
  }
  await Effect.runPromise(migrate(client, settings.keyspace, upTo))
  return client
}
