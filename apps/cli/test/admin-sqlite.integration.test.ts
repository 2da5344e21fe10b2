import { sqliteBackend } from "../../server/test/support/server.ts"
import { adminSuite } from "./admin.suite.ts"

adminSuite(sqliteBackend, { twoNodes: false })
