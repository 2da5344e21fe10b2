import type { Page } from "./rooms.ts"

/**
 * Cuts rows read with `LIMIT limit + 1` down to a page: the extra row is never returned, it
 * only tells that another page follows.
 */
export const toPage = <A, K>(rows: ReadonlyArray<A>, limit: number, key: (a: A) => K): Page<A, K> => {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items, next: rows.length > limit && last !== undefined ? key(last) : null }
}
