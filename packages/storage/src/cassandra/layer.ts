import { Duration, Effect, Layer } from "effect"
import { StorageHealth } from "../health.ts"
import { CassandraAudit } from "./audit.ts"
import { CassandraClient, type CassandraConfig } from "./client.ts"
import { CassandraMessages } from "./messages.ts"
import { CassandraRooms } from "./rooms.ts"
import { CassandraSearch } from "./search.ts"
import { CassandraSessions } from "./sessions.ts"
import { CassandraStats } from "./stats.ts"
import { CassandraUsers } from "./users.ts"

const CassandraHealth = Layer.effect(
  StorageHealth,
  Effect.map(CassandraClient, (db) =>
    StorageHealth.of({
      name: "cassandra",
      check: db.execute("health", "SELECT release_version FROM system.local").pipe(Effect.asVoid)
    })
  )
)

/** Every storage service, on a `CassandraClient` provided by the caller (tests reuse the client). */
export const services = (config: CassandraConfig) => {
  const leases = { lease: Duration.toMillis(config.roomLease), skew: Duration.toMillis(config.maxClockSkew) }
  return Layer.mergeAll(
    CassandraUsers,
    CassandraSessions,
    CassandraRooms(leases),
    CassandraMessages(Math.floor(Duration.toMillis(config.messageBucket)), leases),
    CassandraAudit,
    CassandraStats,
    CassandraHealth,
    CassandraSearch
  )
}

/** Every storage service on Cassandra/ScyllaDB; migrates the keyspace on start. */
export const layer = (config: CassandraConfig) => services(config).pipe(Layer.provide(CassandraClient.layer(config)))
