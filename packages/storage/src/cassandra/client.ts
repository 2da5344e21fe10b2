import cassandra from "cassandra-driver"
import { Cause, Config, Context, Duration, Effect, Exit, Layer, Redacted, Schema, Tracer } from "effect"
import { CircuitBreaker } from "effect/persistence"
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

const durationOfAtLeast = (ms: number, name: string) =>
  Config.schema(
    Schema.DurationFromString.check(
      Schema.makeFilter((d) => Duration.isFinite(d) && Duration.toMillis(d) >= ms, {
        expected: `a finite duration of at least ${ms} millisecond${ms === 1 ? "" : "s"}`
      })
    ),
    name
  )

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
  messageBucket: durationOfAtLeast(1, "CASSANDRA_MESSAGE_BUCKET").pipe(Config.withDefault(Duration.days(10))),
  /**
   * How long one request may wait for the cluster before it fails (503 to the user). Writes
   * that time out have an unknown outcome; callers resolve them (LWT read-back, the room
   * actor's resync). Short, so a stalled node costs a user at most this long.
   */
  requestTimeout: Config.Duration("CASSANDRA_REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(1))),
  /**
   * How long a room's owner may append without a Paxos round (`cql/014_room_lease.cql`): it
   * renews the lease by one when less than half is left. A node taking over a room whose owner
   * died waits this long at most (plus `maxClockSkew`), so it bounds failover.
   */
  roomLease: durationOfAtLeast(100, "CASSANDRA_ROOM_LEASE").pipe(Config.withDefault(Duration.seconds(1))),
  /**
   * How far apart the clocks of Parley's nodes and of the Cassandra nodes they write to may be.
   * A lease is waited out this much longer, a deposed owner's late writes are shadowed only if its
   * clock was no further ahead, and a quiet room's renewing commit (a Paxos round, stamped by the
   * coordinator's clock) must land above the owner's last plain write.
   */
  maxClockSkew: Config.Duration("CASSANDRA_MAX_CLOCK_SKEW").pipe(Config.withDefault(Duration.millis(250))),
  /** After a request timed out, how long every request fails at once before one probes the cluster again. */
  retryAfter: Config.Duration("CASSANDRA_RETRY_AFTER").pipe(Config.withDefault(Duration.millis(500))),
  username: Config.option(Config.String("CASSANDRA_USERNAME")),
  password: Config.option(Config.Redacted("CASSANDRA_PASSWORD"))
})
export type CassandraConfig = Config.Success<typeof CassandraConfig>

export type Params = ReadonlyArray<unknown>

type Execute = (
  operation: string,
  query: string,
  params?: Params,
  options?: cassandra.QueryOptions
) => Effect.Effect<cassandra.types.ResultSet, StorageError>
type Batch = (
  operation: string,
  queries: ReadonlyArray<{ readonly query: string; readonly params: Params }>,
  options?: cassandra.QueryOptions
) => Effect.Effect<cassandra.types.ResultSet, StorageError>

/** What the client needs of the driver's `Client` (tests put a steered one in its place). */
export type Driver = Pick<cassandra.Client, "execute" | "batch">

/** Distinct statements remembered qualified; the code has a few dozen, a bug building them per call must not grow it forever. */
const maxQualified = 1000

export class CassandraClient extends Context.Service<
  CassandraClient,
  {
    /** A user's request: bounded by `requestTimeout` and failed at once while the breaker is open. */
    readonly execute: Execute
    readonly batch: Batch
    /**
     * Bounded by `requestTimeout` only: neither refused by the open breaker nor counted by it.
     * For background and bulk work (counters, a room's removal), whose slowness says little
     * about the cluster and whose failure no user waits on, and for the read that settles a
     * timed-out LWT, which must run exactly when the breaker has just opened.
     */
    readonly executeUnguarded: Execute
    readonly batchUnguarded: Batch
    /** How long one request may wait (`CASSANDRA_REQUEST_TIMEOUT`). */
    readonly requestTimeout: Duration.Duration
  }
>()("parley/storage/cassandra/CassandraClient") {
  /** The service over a connected driver, with the keyspace qualified into every query. */
  static readonly make = (driver: Driver, config: CassandraConfig) =>
    Effect.gen(function* () {
      const guarded = yield* failFast(config)
      // A group commit sends the same few statements over and over (128 row inserts per batch):
      // each is qualified once, not by a regex per statement per request.
      const qualified = new Map<string, string>()
      const inKeyspace = (query: string) => {
        let q = qualified.get(query)
        if (q === undefined) {
          q = qualify(config.keyspace, query)
          if (qualified.size < maxQualified) qualified.set(query, q)
        }
        return q
      }
      const run = (operation: string, query: string, params: Params, options?: cassandra.QueryOptions) =>
        answered(operation, config.requestTimeout, () =>
          driver.execute(
            inKeyspace(query),
            params as Array<unknown>,
            options ? { ...queryOptions, ...options } : queryOptions
          )
        )
      const runBatch = (
        operation: string,
        queries: ReadonlyArray<{ readonly query: string; readonly params: Params }>,
        options?: cassandra.QueryOptions
      ) =>
        answered(operation, config.requestTimeout, () =>
          driver.batch(
            queries.map((q) => ({ query: inKeyspace(q.query), params: [...q.params] })),
            options ? { ...queryOptions, ...options } : queryOptions
          )
        )
      // When spans are exported (a tracer other than Effect's default), each request is a span
      // named by its operation; otherwise none is made at all.
      const traced = (yield* Effect.service(Tracer.Tracer)) !== Tracer.nativeTracer
      const span = traced
        ? <A>(operation: string, request: Effect.Effect<A, StorageError>, statements = 1) =>
            Effect.withSpan(request, `cassandra ${operation}`, {
              kind: "client",
              attributes: {
                "db.system.name": "cassandra",
                "db.namespace": config.keyspace,
                "db.operation.name": operation,
                ...(statements > 1 ? { "db.operation.batch.size": statements } : {})
              },
              captureStackTrace: false
            })
        : <A>(_operation: string, request: Effect.Effect<A, StorageError>, _statements?: number) => request
      return CassandraClient.of({
        execute: (operation, query, params = [], options) =>
          span(operation, guarded(operation, run(operation, query, params, options))),
        batch: (operation, queries, options) =>
          span(operation, guarded(operation, runBatch(operation, queries, options)), queries.length),
        executeUnguarded: (operation, query, params = [], options) =>
          span(operation, run(operation, query, params, options)),
        batchUnguarded: (operation, queries, options) =>
          span(operation, runBatch(operation, queries, options), queries.length),
        requestTimeout: config.requestTimeout
      })
    })

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
        return yield* CassandraClient.make(client, config)
      })
    )
}

/** No answer at all, as opposed to an answer that is an error (which proves the cluster is up). */
const isSilence = (cause: unknown) => {
  const name = (cause as { name?: unknown } | undefined)?.name
  return Cause.isTimeoutError(cause) || name === "OperationTimedOutError" || name === "NoHostAvailableError"
}

/**
 * Every request gets `requestTimeout`. A few consecutive requests that got no answer open a
 * circuit breaker, so while the cluster does not answer, other requests fail at once (a
 * request making several queries would otherwise wait out each one) until a probe gets an
 * answer. More than one: a single slow query or one saturated pool is not a dead cluster. Not
 * more than two: a send queued behind a timed-out write must find the circuit open by then,
 * or it waits out a second timeout and misses the 2 s fail-fast bound (the stall tests). A
 * request refused by the open circuit was never sent: its outcome is known (not applied).
 */
export const silentRequestsToTrip = 2

/**
 * The driver's answer to one request, or `StorageError` with a `TimeoutError` once `timeout` has
 * passed without one. One timer, not a race of two fibers: every statement of a send pays this.
 */
const answered = <A>(operation: string, timeout: Duration.Duration, request: () => Promise<A>) =>
  Effect.callback<A, StorageError>((resume) => {
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      resume(
        Effect.fail(
          new StorageError({
            operation,
            cause: new Cause.TimeoutError(`Cassandra did not answer within ${Duration.format(timeout)}`)
          })
        )
      )
    }, Duration.toMillis(timeout))
    const settle = (outcome: Effect.Effect<A, StorageError>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(outcome)
    }
    try {
      request().then(
        (value) => settle(Effect.succeed(value)),
        (cause) => settle(Effect.fail(new StorageError({ operation, cause })))
      )
    } catch (cause) {
      settle(Effect.fail(new StorageError({ operation, cause })))
    }
    return Effect.sync(() => clearTimeout(timer))
  })

const failFast = (config: CassandraConfig) =>
  Effect.gen(function* () {
    const breaker = yield* CircuitBreaker.make({
      tripPolicy: CircuitBreaker.consecutive(silentRequestsToTrip),
      openDuration: config.retryAfter
    }).pipe(Effect.provide(CircuitBreaker.layerStoreMemory()))
    return <A>(operation: string, request: Effect.Effect<A, StorageError>) =>
      request.pipe(
        breaker.execute({
          key: "cassandra",
          classify: (exit) => {
            const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
            return error?._tag === "Some" && isSilence(error.value.cause)
              ? CircuitBreaker.failure()
              : CircuitBreaker.success
          }
        }),
        Effect.catchTag("CircuitBreakerError", (cause) => Effect.fail(new StorageError({ operation, cause })))
      )
  })

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
    Cause.isTimeoutError(cause) ||
    cause?.name === "NoHostAvailableError"
  )
}

export const serialRead = { consistency: cassandra.types.consistencies.localSerial }
