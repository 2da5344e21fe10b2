import { cassandraRedisBackend } from "./support/server.ts"
import { tracingSuite } from "./tracing.suite.ts"

// With Redis, a send goes through the room's cluster entity, and a second node delivers: the trace must cross both.
tracingSuite(cassandraRedisBackend, { otherStarts: false, twoNodes: true })
