import { NodeClusterSocket } from "@effect/platform-node"
import { Duration, Layer, Option } from "effect"
import { MessageStorage, RunnerAddress } from "effect/cluster"
import { RoomEntityLive, RoomRouter } from "../chat/room-router.ts"
import * as RedisRunnerStorage from "./runner-storage-redis.ts"

export interface ClusterOptions {
  /** Nodes with the same cluster name share rooms; use one name per deployment. */
  readonly name: string
  /** Where the other nodes reach this one for forwarded sends. */
  readonly runnerHost: string
  readonly runnerPort: number
}

/** A node that cannot renew its shard locks for this long loses them to the others. */
const shardLockExpiration = Duration.seconds(15)

/**
 * Several nodes: room ownership through `effect/cluster`. Runners find each other and lock
 * shards in Redis; sends travel between them over the cluster's socket protocol. Sends are
 * not persisted by the cluster (`MessageStorage.layerNoop`): the caller gets an error and
 * retries with its `client_msg_id` if the owner is lost mid-send.
 */
export const layerRoomRouterCluster = (options: ClusterOptions) =>
  Layer.merge(RoomRouter.layerCluster, RoomEntityLive).pipe(
    Layer.provide(
      NodeClusterSocket.layer({
        storage: "byo",
        // The default binary codec lost remote replies (the owner stored the message, the
        // forwarding node never heard back); JSON lines deliver them.
        serialization: "ndjson",
        shardingConfig: {
          runnerAddress: Option.some(RunnerAddress.make(options.runnerHost, options.runnerPort)),
          shardLockExpiration,
          shardLockRefreshInterval: Duration.seconds(5),
          simulateRemoteSerialization: true
        }
      })
    ),
    Layer.provide(
      Layer.merge(
        MessageStorage.layerNoop,
        RedisRunnerStorage.layerRedis({ cluster: options.name, shardLockExpiration })
      )
    )
  )
