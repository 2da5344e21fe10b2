import { Effect } from "effect"
import type { StorageError } from "../errors.ts"
import { toPage } from "../page.ts"
import type { Page } from "../rooms.ts"

/**
 * A page over a listing table whose rows may have to be skipped: a directory row whose user
 * never appeared (a failed signup), a listing copy an archive left half-written beside a
 * delete. Reads `limit + 1` rows after the cursor, decodes them, and if some were skipped
 * reads on from the last row read until it has `limit + 1` or the table ends, so skipping
 * never shortens a page nor ends the listing early.
 */
export const pageSkipping = Effect.fnUntraced(function* <Row, A, K>(options: {
  readonly after: K | null
  readonly limit: number
  /** Up to `n` rows after the key, in key order. */
  readonly read: (after: K | null, n: number) => Effect.Effect<ReadonlyArray<Row>, StorageError>
  readonly keyOf: (row: Row) => K
  /** One result per row, undefined for a row to skip. */
  readonly decode: (rows: ReadonlyArray<Row>) => Effect.Effect<ReadonlyArray<A | undefined>, StorageError>
}) {
  const kept: Array<{ readonly key: K; readonly item: A }> = []
  let cursor = options.after
  while (kept.length <= options.limit) {
    const wanted = options.limit + 1 - kept.length
    const rows = yield* options.read(cursor, wanted)
    const items = yield* options.decode(rows)
    rows.forEach((row, i) => {
      const item = items[i]
      if (item !== undefined) kept.push({ key: options.keyOf(row), item })
    })
    if (rows.length < wanted) break
    cursor = options.keyOf(rows.at(-1)!)
  }
  const page = toPage(kept, options.limit, (k) => k.key)
  return { items: page.items.map((k) => k.item), next: page.next } satisfies Page<A, K>
})
