import { adminSuite } from "./admin.suite.ts"
import { revocationSuite } from "./revocation.suite.ts"
import { sqliteBackend } from "./support/server.ts"

adminSuite(sqliteBackend, { twoNodes: false })
revocationSuite(sqliteBackend, { twoNodes: false })
