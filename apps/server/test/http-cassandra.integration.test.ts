import { attacksSuite } from "./attacks.suite.ts"
import { authSuite } from "./auth.suite.ts"
import { seedCommandsSuite } from "./seed-commands.suite.ts"
import { startupSuite } from "./startup.suite.ts"
import { cassandraRedisBackend } from "./support/server.ts"

authSuite(cassandraRedisBackend)
attacksSuite(cassandraRedisBackend)
seedCommandsSuite(cassandraRedisBackend)
startupSuite(cassandraRedisBackend)
