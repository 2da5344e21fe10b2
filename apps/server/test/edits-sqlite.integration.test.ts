import { editsSuite } from "./edits.suite.ts"
import { sqliteBackend } from "./support/server.ts"

editsSuite(sqliteBackend)
