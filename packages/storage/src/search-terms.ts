/**
 * Words of message text, as message search compares them. Cassandra's message rows hold these
 * in `terms` (`cql/011_search_in_rows.cql`), queried with these; SQLite's FTS5 index uses its
 * `unicode61 remove_diacritics 2` tokenizer, which splits and folds the same way for the
 * scripts people type with precomposed letters (Latin, Greek, Cyrillic, CJK):
 *
 * - compatibility decomposition (NFKD), then combining marks dropped: "Café" → "cafe";
 * - lowercase;
 * - a word is a run of letters and digits (Unicode classes L and N); anything else separates;
 * - a word is cut to `maxTermLength` code points.
 *
 * Matching is by whole words, every word of the query (AND); no prefix matching (Cassandra's
 * index on `terms` matches whole set elements only).
 */

/** Longer words are cut to this many code points, on both sides of a comparison. */
export const maxTermLength = 64

/**
 * Distinct words indexed per message on Cassandra: its first ones. A 4,000-character message
 * may hold ~800; the cap bounds a row's `terms` and what a group commit adds to the index (a
 * message's later words are not found there; SQLite indexes them all).
 */
export const maxTermsPerMessage = 200

/** Distinct words a query may hold: each one is a condition every result must meet. */
export const maxQueryTerms = 8

const separators = /[^\p{L}\p{N}]+/u
const marks = /\p{M}+/gu

const cut = (word: string) => (word.length <= maxTermLength ? word : Array.from(word).slice(0, maxTermLength).join(""))

/** The text's words, folded, in order, repeats kept. */
export const words = (text: string): ReadonlyArray<string> =>
  text
    .normalize("NFKD")
    .replace(marks, "")
    .toLowerCase()
    .split(separators)
    .filter((word) => word.length > 0)
    .map(cut)

/** The distinct words a message is indexed under (at most `maxTermsPerMessage`, in order of appearance). */
export const messageTerms = (text: string): ReadonlyArray<string> => firstDistinct(words(text))

const firstDistinct = (all: ReadonlyArray<string>) => [...new Set(all)].slice(0, maxTermsPerMessage)

/**
 * Adds `messageTerms(text)` to `into`. A text of no more words than the cap holds no word past
 * it: its words go straight in, without a set of their own (a group commit's words are a
 * third cheaper so).
 */
export const addMessageTerms = (into: Set<string>, text: string): void => {
  const all = words(text)
  for (const word of all.length <= maxTermsPerMessage ? all : firstDistinct(all)) into.add(word)
}

/** The distinct words of a query, in order; empty when it holds no word (a blank query). */
export const queryTerms = (query: string): ReadonlyArray<string> => [...new Set(words(query))]

/** Whether `text` holds every one of `terms` (the query's, from `queryTerms`). */
export const matchesAll = (text: string, terms: ReadonlyArray<string>) => {
  const present = new Set(words(text))
  return terms.every((term) => present.has(term))
}
