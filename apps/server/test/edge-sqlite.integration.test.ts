import { edgeSuite } from "./edge.suite.ts"
import { sqliteBackend } from "./support/server.ts"

edgeSuite(sqliteBackend)
