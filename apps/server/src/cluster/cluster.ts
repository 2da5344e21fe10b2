import { NodeClusterSocket } from "@effect/platform-node"
import { Duration, Layer, Option } from "effect"
import { MessageStorage, RunnerAddress, Runners, ShardingConfig, SocketRunner } from "effect/cluster"
import { RpcSerialization } from "effect/rpc"
import { RoomEntityLive, RoomRouter } from "../chat/room-router.ts"
import { layerFastPing } from "./runner-health.ts"
import * as RedisRunnerStorage from "./runner-storage-redis.ts"
import { layerRunnerWatch } from "./runner-watch.ts"

export interface ClusterOptions {
  /** Nodes with the same cluster name share rooms; use one name per deployment. */
  readonly name: string
  /** Where the other nodes reach this one for forwarded sends. */
  readonly runnerHost: string
  readonly runnerPort: number
}

/*
 * Failover timing. A crashed owner's rooms must be served elsewhere within 3 s (issue 9):
 * - every node pings the others through their runner socket (`runner-watch.ts`) every
 *   `runnerHealthCheckInterval`; a crashed node refuses at once and is flagged unhealthy;
 * - a runner flagged unhealthy, or silent (no heartbeat, renewed with its locks every third
 *   of the lease) for longer than `lease`, loses its shard locks to any live runner at once
 *   (`runner-storage-redis.ts`), not when they expire;
 * - each node re-reads the runners every `refreshAssignmentsInterval` and takes the shards
 *   the new assignment gives it.
 * So about one check + one poll + the new owner's first write (about a second) after a
 * crash; `lease` bounds the cases no ping detects (a frozen process, a lost host).
 * A live node falsely called dead (unanswered pings for 6 s, or no renewal for a lease)
 * loses its shards until its next refresh tells it so: that costs availability, and
 * storage fencing keeps it from costing order.
 */
/**
 * A node that cannot renew its shard locks (or heartbeat) for this long loses them. Renewed
 * every third of it, each renewal allowed a third (1 s, Redis's command timeout).
 */
const lease = Duration.seconds(3)
const refreshAssignmentsInterval = Duration.millis(250)
const runnerHealthCheckInterval = Duration.millis(500)
/** Long past any lease: a runner silent this long is gone, not slow, and its records go too. */
const pruneAfter = Duration.minutes(1)

/**
 * Several nodes: room ownership through `effect/cluster`. Runners find each other and lock
 * shards in Redis; sends travel between them over the cluster's socket protocol. Sends are
 * not persisted by the cluster (`MessageStorage.layerNoop`): the caller gets an error and
 * retries with its `client_msg_id` if the owner is lost mid-send.
 *
 * This is `NodeClusterSocket.layer({ storage: "byo" })` with our own `RunnerHealth`
 * (`runner-health.ts`): that layer always uses Effect's ping check, which takes seconds to
 * call a dead node dead.
 */
export const layerRoomRouterCluster = (options: ClusterOptions) =>
  Layer.mergeAll(RoomRouter.layerCluster, RoomEntityLive, layerRunnerWatch).pipe(
    Layer.provide(
      Layer.provide(SocketRunner.layer, [NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol])
    ),
    // One health check for Sharding's singleton and for this node's watch.
    Layer.provide(
      layerFastPing.pipe(Layer.provide(Runners.layerRpc), Layer.provide(NodeClusterSocket.layerClientProtocol))
    ),
    Layer.provide(
      Layer.merge(MessageStorage.layerNoop, RedisRunnerStorage.layerRedis({ cluster: options.name, lease, pruneAfter }))
    ),
    Layer.provide(
      ShardingConfig.layerFromEnv({
        runnerAddress: Option.some(RunnerAddress.make(options.runnerHost, options.runnerPort)),
        shardLockExpiration: lease,
        refreshAssignmentsInterval,
        runnerHealthCheckInterval,
        simulateRemoteSerialization: true
      })
    ),
    // The default binary codec lost remote replies (the owner stored the message, the
    // forwarding node never heard back); JSON lines deliver them.
    Layer.provide(RpcSerialization.layerNdjson)
  )
