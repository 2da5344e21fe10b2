import { readMarkersSuite } from "./read-markers.suite.ts"
import { cassandraRedisBackend } from "./support/server.ts"

// Two server processes on one keyspace and one Redis: a user's second session on the second node.
readMarkersSuite(cassandraRedisBackend, { twoNodes: true })
