import { SqliteStorage } from "../src/index.ts"
import { conformance } from "./conformance.ts"

conformance("sqlite", SqliteStorage.layer(":memory:"))
