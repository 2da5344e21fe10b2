import { directRoomsSuite } from "./direct-rooms.suite.ts"
import { sqliteBackend } from "./support/server.ts"

directRoomsSuite(sqliteBackend)
