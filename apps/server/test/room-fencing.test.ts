import { SqliteStorage } from "@parley/storage"
import { roomFencingSuite } from "./room-fencing.suite.ts"

roomFencingSuite("sqlite", SqliteStorage.layer(":memory:"))
