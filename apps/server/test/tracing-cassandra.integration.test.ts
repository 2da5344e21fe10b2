import { cassandraRedisBackend } from "./support/server.ts"
import { tracingSuite } from "./tracing.suite.ts"

// With Redis, a send goes through the room's cluster entity: the trace must cross it.
tracingSuite(cassandraRedisBackend, { checkDisabled: false })
