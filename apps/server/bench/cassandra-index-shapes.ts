/**
 * What the search index costs a Cassandra node, by its shape: the raw driver keeping 128 single
 * inserts in flight into a message table with a Storage-Attached Index on a `terms` set, three
 * ways, in alternating rounds on one fresh keyspace (dropped afterwards):
 *
 * - the row alone, no `terms` (nothing for the index): the hot room's yardstick;
 * - the row with its words in `terms`, as Parley stores a message today (`cql/011_search_in_rows.cql`);
 * - the row alone, plus one row per 128 messages in a second table holding the union of their
 *   words, under the same kind of index: what an index per group commit would cost.
 *
 * Texts are `cassandra-write.ts`'s: 30 words, 28 of them from a 500-word vocabulary. How many
 * words a group commit's messages share decides the third shape's cost, so chat in a real
 * language, whose common words repeat, lands between the second and the third.
 *
 *   node apps/server/bench/cassandra-index-shapes.ts [seconds per round, default 15]
 *   (CASSANDRA_CONTACT_POINTS, default 127.0.0.1:9042)
 */
import { messageTerms } from "@parley/storage"
import cassandra from "cassandra-driver"
import { textOf } from "./cassandra-write.ts"

const seconds = Number(process.argv[2] ?? 15)
const inFlight = 128
const perIndexRow = 128
const rounds = 2
const keyspace = `parley_index_shapes_${Date.now().toString(36)}`
const client = new cassandra.Client({
  contactPoints: (process.env.CASSANDRA_CONTACT_POINTS ?? "127.0.0.1:9042").split(","),
  localDataCenter: "datacenter1"
})
const options = { prepare: true, consistency: cassandra.types.consistencies.localQuorum }

type Shape = "row alone" | "row + its words" | "row, + words per 128"
const shapes: ReadonlyArray<Shape> = ["row alone", "row + its words", "row, + words per 128"]

/** Inserts for `seconds` with `inFlight` kept going; rows per second. */
const round = async (shape: Shape) => {
  const roomId = cassandra.types.TimeUuid.now()
  const bucket = new Date()
  const withTerms = shape === "row + its words"
  const insert = `INSERT INTO ${keyspace}.messages (room_id, bucket, seq, content${withTerms ? ", terms" : ""}) VALUES (?, ?, ?, ?${withTerms ? ", ?" : ""})`
  const insertBatchWords = `INSERT INTO ${keyspace}.batch_words (room_id, bucket, first_seq, last_seq, terms) VALUES (?, ?, ?, ?, ?)`
  let seq = 0
  let done = 0
  const end = Date.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      for (let i = 0; Date.now() < end; i++) {
        const text = textOf(w, i, 30)
        const s = ++seq
        await client.execute(insert, [roomId, bucket, s, text, ...(withTerms ? [messageTerms(text)] : [])], options)
        // The texts of the 128 sends before this one, as one group commit would hold them.
        if (shape === "row, + words per 128" && s % perIndexRow === 0) {
          const words = new Set<string>()
          for (let k = 0; k < perIndexRow; k++)
            for (const t of messageTerms(textOf((w + k) % inFlight, i, 30))) words.add(t)
          await client.execute(insertBatchWords, [roomId, bucket, s - perIndexRow + 1, s, [...words]], options)
        }
        done++
      }
    })
  )
  return done / seconds
}

try {
  await client.connect()
  const ddl = { readTimeout: 120_000 }
  await client.execute(
    `CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
    [],
    ddl
  )
  await client.execute(
    `CREATE TABLE ${keyspace}.messages (room_id timeuuid, bucket timestamp, seq bigint, content text, terms set<text>, PRIMARY KEY ((room_id, bucket), seq))`,
    [],
    ddl
  )
  await client.execute(`CREATE INDEX messages_terms ON ${keyspace}.messages (terms) USING 'sai'`, [], ddl)
  await client.execute(
    `CREATE TABLE ${keyspace}.batch_words (room_id timeuuid, bucket timestamp, first_seq bigint, last_seq bigint, terms set<text>, PRIMARY KEY ((room_id, bucket), first_seq))`,
    [],
    ddl
  )
  await client.execute(`CREATE INDEX batch_words_terms ON ${keyspace}.batch_words (terms) USING 'sai'`, [], ddl)
  const rates = new Map<Shape, Array<number>>(shapes.map((s) => [s, []]))
  for (let r = 0; r < rounds; r++) for (const shape of shapes) rates.get(shape)!.push(await round(shape))
  const alone = Math.max(...rates.get("row alone")!)
  for (const [shape, samples] of rates) {
    console.log(
      `${shape.padEnd(22)} ${samples.map((n) => n.toFixed(0).padStart(6)).join(" ")} rows/s (best ${(Math.max(...samples) / alone).toFixed(2)}x the row alone's best)`
    )
  }
} finally {
  await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 120_000 }).catch(() => undefined)
  await client.shutdown()
}
