import { layer } from "@effect/vitest"
import cassandra from "cassandra-driver"
import { Duration, Effect, Layer } from "effect"
import { afterAll } from "vitest"
import { CassandraClient } from "../src/cassandra/client.ts"
import { CassandraConfig, CassandraStorage } from "../src/index.ts"
import { cassandraClientIdFilter, cassandraClientIds } from "./cassandra-client-ids.ts"
import { cassandraDirectRooms } from "./cassandra-direct-rooms.ts"
import { cassandraEditRepair } from "./cassandra-edit-repair.ts"
import { cassandraFencing } from "./cassandra-fencing.ts"
import { cassandraLeftovers } from "./cassandra-leftovers.ts"
import { cassandraSearchAfterAck } from "./cassandra-search-after-ack.ts"
import { cassandraSearchRepair } from "./cassandra-search-repair.ts"
import { conformance } from "./conformance.ts"
import { testMessageBucketMs } from "./fixtures.ts"

/**
 * A fresh keyspace per run against the node that `npm test` started (CASSANDRA_CONTACT_POINTS),
 * with tiny message windows so that every history spans many partitions.
 */
const keyspace = `parley_test_${Date.now().toString(36)}`
const config = Effect.map(CassandraConfig, (config) => ({
  ...config,
  keyspace,
  messageBucket: Duration.millis(testMessageBucketMs)
}))
const storage = Layer.unwrap(Effect.map(config, CassandraStorage.layer)).pipe(Layer.orDie)

conformance("cassandra", storage, { timeout: 300_000 })

/** The same keyspace with the client in reach, to write what a crash or a race would leave. */
const withClient = Layer.unwrap(
  Effect.map(config, (config) =>
    CassandraStorage.services(config).pipe(Layer.provideMerge(CassandraClient.layer(config)))
  )
).pipe(Layer.orDie)

layer(withClient, { timeout: 120_000 })((it) => {
  cassandraLeftovers(it)
  cassandraClientIds(it)
  cassandraClientIdFilter(it)
  cassandraEditRepair(it)
  cassandraSearchRepair(it)
  cassandraSearchAfterAck(it)
  cassandraDirectRooms(it)
  cassandraFencing(it, Effect.orDie(config))
})

// One test node holds every keyspace's tables in one heap: leave nothing behind.
afterAll(async () => {
  const { contactPoints, localDataCenter } = Effect.runSync(config)
  const client = new cassandra.Client({ contactPoints: [...contactPoints], localDataCenter })
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 120_000 })
  } finally {
    await client.shutdown()
  }
})
