import { realtimeSuite } from "./realtime.suite.ts"
import { sqliteBackend } from "./support/server.ts"

realtimeSuite(sqliteBackend, { twoNodes: false })
