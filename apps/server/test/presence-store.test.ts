/** The presence store contract on the memory store (one node). The Redis run is in presence-redis.integration.test.ts. */
import { Effect, Layer } from "effect"
import { memoryStore } from "../src/realtime/presence-store.ts"
import { presenceStoreContract } from "./presence-store.suite.ts"

presenceStoreContract("memory", Layer.empty, Effect.sync(memoryStore))
