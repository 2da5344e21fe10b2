import { CassandraConfig, CassandraStorage } from "@parley/storage"
import cassandra from "cassandra-driver"
import { Effect, Layer } from "effect"
import { afterAll } from "vitest"
import { roomFencingSuite } from "./room-fencing.suite.ts"

/** A fresh keyspace on the node `npm test` started (CASSANDRA_CONTACT_POINTS), dropped afterwards. */
const keyspace = `parley_fencing_${Date.now().toString(36)}`
const config = Effect.map(CassandraConfig, (config) => ({ ...config, keyspace }))

roomFencingSuite("cassandra", Layer.unwrap(Effect.map(config, CassandraStorage.layer)).pipe(Layer.orDie))

afterAll(async () => {
  const { contactPoints, localDataCenter } = Effect.runSync(config)
  const client = new cassandra.Client({ contactPoints: [...contactPoints], localDataCenter })
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 120_000 })
  } finally {
    await client.shutdown()
  }
})
