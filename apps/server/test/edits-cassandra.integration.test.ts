import { editsSuite } from "./edits.suite.ts"
import { cassandraRedisBackend } from "./support/server.ts"

editsSuite(cassandraRedisBackend)
