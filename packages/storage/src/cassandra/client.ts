import cassandra from "cassandra-driver"
import { Config, Context, Duration, Effect, Layer, Redacted, Schema } from "effect"
import { StorageError } from "../errors.ts"
import { createKeyspace, migrate } from "./migrate.ts"
import { qualify } from "./qualify.ts"

export { qualify }

/**
 * Consistency: LOCAL_QUORUM for reads and writes, LOCAL_SERIAL for the Paxos phase of
 * LWTs. Together they make an LWT's outcome visible to every later read in the DC.
 */
const queryOptions = {
  prepare: true,
  consistency: cassandra.types.consistencies.localQuorum,
  serialConsistency: cassandra.types.consistencies.localSerial
}

export const CassandraConfig = Config.all({
  contactPoints: Config.String("CASSANDRA_CONTACT_POINTS").pipe(
    Config.withDefault("127.0.0.1:9042"),
    Config.map((s) =>
      s
        .split(",")
        .map((p) => p.trim())
        .filter((p) => p.length > 0)
    )
  ),
  localDataCenter: Config.String("CASSANDRA_LOCAL_DC").pipe(Config.withDefault("datacenter1")),
  keyspace: Config.schema(Schema.String.check(Schema.isPattern(/^[a-z_][a-z0-9_]{0,47}$/)), "CASSANDRA_KEYSPACE").pipe(
    Config.withDefault("parley")
  ),
  /** Used only when the migrator creates the keyspace; production sets NetworkTopologyStrategy. */
  replication: Config.String("CASSANDRA_REPLICATION").pipe(
    Config.withDefault("{'class': 'SimpleStrategy', 'replication_factor': 1}")
  ),
  /**
   * The time window of one `room_messages` partition. Size it so a busy room's window stays
   * well under ~100 MB; changing it later is safe (see `cql/002_chat.cql`).
   */
  messageBucket: Config.schema(
    Schema.DurationFromString.check(
      Schema.makeFilter((d) => Duration.isFinite(d) && Duration.toMillis(d) >= 1, {
        expected: "a finite duration of at least 1 millisecond"
      })
    ),
    "CASSANDRA_MESSAGE_BUCKET"
  ).pipe(Config.withDefault(Duration.days(10))),
  /**
   * How long the driver waits for a node's answer before the request fails. Writes that time
   * out have an unknown outcome; callers resolve them (LWT read-back, the room actor's resync).
   */
  requestTimeout: Config.Duration("CASSANDRA_REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(12))),
  username: Config.option(Config.String("CASSANDRA_USERNAME")),
  password: Config.option(Config.Redacted("CASSANDRA_PASSWORD"))
})
export type CassandraConfig = Config.Success<typeof CassandraConfig>

export type Params = ReadonlyArray<unknown>

export class CassandraClient extends Context.Service<
  CassandraClient,
  {
    readonly execute: (
      operation: string,
      query: string,
      params?: Params,
      options?: cassandra.QueryOptions
    ) => Effect.Effect<cassandra.types.ResultSet, StorageError>
    readonly batch: (
      operation: string,
      queries: ReadonlyArray<{ readonly query: string; readonly params: Params }>,
      options?: cassandra.QueryOptions
    ) => Effect.Effect<void, StorageError>
  }
>()("parley/storage/cassandra/CassandraClient") {
  static readonly layer = (config: CassandraConfig) =>
    Layer.effect(
      CassandraClient,
      Effect.gen(function* () {
        const connect = (keyspace: string | undefined) =>
          Effect.acquireRelease(
            Effect.tryPromise({
              try: async () => {
                const client = new cassandra.Client({
                  contactPoints: [...config.contactPoints],
                  localDataCenter: config.localDataCenter,
                  socketOptions: { readTimeout: Duration.toMillis(config.requestTimeout) },
                  ...(keyspace === undefined ? {} : { keyspace }),
                  queryOptions,
                  ...(config.username._tag === "Some" && config.password._tag === "Some"
                    ? {
                        credentials: {
                          username: config.username.value,
                          password: Redacted.value(config.password.value)
                        }
                      }
                    : {})
                })
                await client.connect()
                return client
              },
              catch: (cause) => new StorageError({ operation: "cassandra.connect", cause })
            }),
            (client) => Effect.promise(() => client.shutdown())
          )
        yield* Effect.scoped(Effect.flatMap(connect(undefined), (client) => createKeyspace(client, config)))
        const client = yield* connect(config.keyspace)
        yield* migrate(client, config.keyspace)
        return CassandraClient.of({
          execute: (operation, query, params = [], options) =>
            Effect.tryPromise({
              try: () =>
                client.execute(
                  qualify(config.keyspace, query),
                  params as Array<unknown>,
                  options ? { ...queryOptions, ...options } : queryOptions
                ),
              catch: (cause) => new StorageError({ operation, cause })
            }),
          batch: (operation, queries, options) =>
            Effect.tryPromise({
              try: () =>
                client.batch(
                  queries.map((q) => ({ query: qualify(config.keyspace, q.query), params: [...q.params] })),
                  options ? { ...queryOptions, ...options } : queryOptions
                ),
              catch: (cause) => new StorageError({ operation, cause })
            }).pipe(Effect.asVoid)
        })
      })
    )
}

export const uuid = (id: string) => cassandra.types.Uuid.fromString(id)

/**
 * Whether a failed write may still have been applied: a coordinator write timeout or a
 * client-side timeout. For LWTs the answer is then read back at SERIAL.
 */
export const isUnknownOutcome = (error: StorageError): boolean => {
  const cause = error.cause as { code?: number; name?: string } | undefined
  return (
    cause?.code === cassandra.types.responseErrorCodes.writeTimeout ||
    cause?.name === "OperationTimedOutError" ||
    cause?.name === "NoHostAvailableError"
  )
}

export const serialRead = { consistency: cassandra.types.consistencies.localSerial }
