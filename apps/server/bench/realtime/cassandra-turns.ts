/**
 * The Cassandra hot room in turns: the raw driver's rounds, then a Parley pass, again and again
 * on the same node, each as long as the other. A node keeps warming for minutes after it
 * starts, and a burst of a fraction of a second misses the flushes and compactions a sustained
 * load pays; measured once each, one after the other, the later and the shorter one looked
 * faster (a recorded run had the driver's 128 in flight over 0.3 s, after Parley's 10 s).
 * The report takes each path's median over the turns, and keeps every turn's numbers.
 */

type Row = Record<string, any>

export interface Turn {
  /** `runCassandraHotRoom`'s rows for this turn (the driver's paths and the actor in-process), or its error. */
  readonly driver: unknown
  /** Parley's hot room over the WebSocket, one result per shape of `plan.hot.shapes`. */
  readonly parley: ReadonlyArray<Row>
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!

/** `{ [field]: median }` over the rows that have the field; nothing when none has it (an older run). */
const medianOf = (rows: ReadonlyArray<Row>, field: string) => {
  const values = rows.map((r) => r[field]).filter((v): v is number => typeof v === "number")
  return values.length === 0 ? {} : { [field]: median(values) }
}

const rowsOf = (turn: Turn): ReadonlyArray<Row> => (Array.isArray(turn.driver) ? (turn.driver as Array<Row>) : [])

/**
 * The driver's (and the in-process actor's) rows over all turns: per path and concurrency, the
 * median rate and latencies, every round's rate in `samples`, ratios taken between medians. The
 * first turn's error when no turn produced rows.
 */
export const driverOverTurns = (turns: ReadonlyArray<Turn>): unknown => {
  const all = turns.flatMap(rowsOf)
  if (all.length === 0) return turns[0]?.driver
  const key = (r: Row) => `${r.path}|${r.inFlight}`
  const merged = [...new Set(all.map(key))].map((k): Row => {
    const rows = all.filter((r) => key(r) === k)
    const perSecond = median(rows.map((r) => r.perSecond))
    return {
      ...rows[0],
      rounds: rows.reduce((n, r) => n + r.rounds, 0),
      samples: rows.flatMap((r) => r.samples),
      perSecond,
      usPerMessage: 1_000_000 / perSecond,
      latencyP50Ms: median(rows.map((r) => r.latencyP50Ms)),
      latencyP99Ms: median(rows.map((r) => r.latencyP99Ms)),
      ...medianOf(rows, "cpuUsPerMessage"),
      ...medianOf(rows, "nodeCpuUsPerMessage")
    }
  })
  const rate = (path: RegExp, inFlight: number) =>
    merged.find((r) => r.inFlight === inFlight && path.test(r.path))?.perSecond as number | undefined
  return merged.map((r) => ({
    ...r,
    vsDriver: r.perSecond / (rate(/^driver INSERT, one row$/, r.inFlight) ?? Number.NaN),
    vsIndexedDriver: r.perSecond / (rate(/driver .*\+ terms/, r.inFlight) ?? Number.NaN)
  }))
}

/**
 * Parley's hot room over all turns: per shape, the turn with the median rate (so its latencies
 * and CPU belong to one window), with every turn's rate in `turnRates`.
 */
export const parleyOverTurns = (turns: ReadonlyArray<Turn>): ReadonlyArray<Row> => {
  const shapes = Math.max(0, ...turns.map((t) => t.parley.length))
  return Array.from({ length: shapes }, (_, i) => {
    const results = turns.map((t) => t.parley[i]).filter((r): r is Row => r !== undefined)
    const rated = results.filter((r) => typeof r.perSecond === "number")
    if (rated.length === 0) return results[0] ?? { error: "no turn" }
    const sorted = [...rated].sort((a, b) => a.perSecond - b.perSecond)
    return { ...sorted[Math.floor((sorted.length - 1) / 2)], turnRates: results.map((r) => r.perSecond ?? null) }
  })
}
