import { ConfigProvider, Effect, Layer } from "effect"
import { CassandraConfig, CassandraStorage } from "../src/index.ts"
import { conformance } from "./conformance.ts"

/** A fresh keyspace per run against the node that `npm test` started (CASSANDRA_CONTACT_POINTS). */
const keyspace = `parley_test_${Date.now().toString(36)}`
const storage = Layer.unwrap(
  Effect.map(CassandraConfig.asEffect(), (config) => CassandraStorage.layer({ ...config, keyspace }))
).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv())), Layer.orDie)

conformance("cassandra", storage, { timeout: 300_000 })
