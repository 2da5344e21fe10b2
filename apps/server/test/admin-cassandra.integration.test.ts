import { adminSuite } from "./admin.suite.ts"
import { revocationSuite } from "./revocation.suite.ts"
import { cassandraRedisBackend } from "./support/server.ts"

adminSuite(cassandraRedisBackend, { twoNodes: true })
// Two server processes on one keyspace and one Redis: sockets on both, revocations through the first.
revocationSuite(cassandraRedisBackend, { twoNodes: true })
