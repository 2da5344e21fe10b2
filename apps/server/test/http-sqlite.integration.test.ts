import { attacksSuite } from "./attacks.suite.ts"
import { authSuite } from "./auth.suite.ts"
import { chatHttpSuite } from "./chat-http.suite.ts"
import { loginLimitsSuite } from "./login-limits.suite.ts"
import { passwordsSuite } from "./passwords.suite.ts"
import { presenceSuite } from "./presence.suite.ts"
import { refreshGraceSuite } from "./refresh-grace.suite.ts"
import { seedChatSuite } from "./seed-chat.suite.ts"
import { seedCommandsSuite } from "./seed-commands.suite.ts"
import { startupSuite } from "./startup.suite.ts"
import { sqliteBackend } from "./support/server.ts"
import { wsSuite } from "./ws.suite.ts"
import { wsFuzzSuite } from "./ws-fuzz.suite.ts"
import { wsLimitsSuite } from "./ws-limits.suite.ts"

authSuite(sqliteBackend)
passwordsSuite(sqliteBackend)
refreshGraceSuite(sqliteBackend)
attacksSuite(sqliteBackend)
loginLimitsSuite(sqliteBackend)
seedCommandsSuite(sqliteBackend)
chatHttpSuite(sqliteBackend)
seedChatSuite(sqliteBackend)
startupSuite(sqliteBackend)
wsSuite(sqliteBackend)
wsFuzzSuite(sqliteBackend)
wsLimitsSuite(sqliteBackend, { twoNodes: false })
presenceSuite(sqliteBackend, { twoNodes: false })
