import { edgeSuite } from "./edge.suite.ts"
import { cassandraRedisBackend } from "./support/server.ts"

edgeSuite(cassandraRedisBackend)
