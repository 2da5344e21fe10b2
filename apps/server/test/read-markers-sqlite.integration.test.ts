import { readMarkersSuite } from "./read-markers.suite.ts"
import { sqliteBackend } from "./support/server.ts"

readMarkersSuite(sqliteBackend, { twoNodes: false })
