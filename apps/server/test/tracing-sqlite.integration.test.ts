import { sqliteBackend } from "./support/server.ts"
import { tracingSuite } from "./tracing.suite.ts"

tracingSuite(sqliteBackend, { otherStarts: true, twoNodes: false })
