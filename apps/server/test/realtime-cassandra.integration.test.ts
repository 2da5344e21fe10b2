import { realtimeSuite } from "./realtime.suite.ts"
import { cassandraRedisBackend } from "./support/server.ts"

// Two server processes on one keyspace and one Redis: subscribers on both, senders on the first.
realtimeSuite(cassandraRedisBackend, { twoNodes: true })
