import { cassandraRedisBackend } from "../../server/test/support/server.ts"
import { adminSuite } from "./admin.suite.ts"

// Two server processes on one keyspace and one Redis: sockets on node B, commands through node A.
adminSuite(cassandraRedisBackend, { twoNodes: true })
