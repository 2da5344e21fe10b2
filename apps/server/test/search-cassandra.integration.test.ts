import { searchSuite } from "./search.suite.ts"
import { cassandraRedisBackend } from "./support/server.ts"

searchSuite(cassandraRedisBackend)
