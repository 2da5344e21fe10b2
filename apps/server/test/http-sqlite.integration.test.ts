import { attacksSuite } from "./attacks.suite.ts"
import { authSuite } from "./auth.suite.ts"
import { seedCommandsSuite } from "./seed-commands.suite.ts"
import { startupSuite } from "./startup.suite.ts"
import { sqliteBackend } from "./support/server.ts"

authSuite(sqliteBackend)
attacksSuite(sqliteBackend)
seedCommandsSuite(sqliteBackend)
startupSuite(sqliteBackend)
