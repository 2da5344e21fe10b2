import { searchSuite } from "./search.suite.ts"
import { sqliteBackend } from "./support/server.ts"

searchSuite(sqliteBackend)
