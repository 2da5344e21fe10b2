import { directRoomsSuite } from "./direct-rooms.suite.ts"
import { cassandraRedisBackend } from "./support/server.ts"

directRoomsSuite(cassandraRedisBackend)
