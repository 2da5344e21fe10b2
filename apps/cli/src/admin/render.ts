/**
 * How results look: aligned tables and key/value blocks for people, one JSON document for
 * scripts. Every cell is server text, so every cell goes through `safeText` first.
 */
import { safeJson, safeText } from "../shared/safe-text.ts"
import type { Io } from "./io.ts"

export interface Column<A> {
  readonly header: string
  readonly value: (row: A) => string
  /** Longer values are cut, ending in `…` (user agents, details). */
  readonly max?: number
}

const wide =
  /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\p{Extended_Pictographic}]/u
const zeroWidth = /\p{M}/u

/** Terminal columns `text` occupies: wide East Asian characters and emoji take two, marks none. */
export const displayWidth = (text: string): number => {
  let width = 0
  for (const char of text) width += zeroWidth.test(char) ? 0 : wide.test(char) ? 2 : 1
  return width
}

const cut = (text: string, max: number | undefined): string => {
  if (max === undefined || displayWidth(text) <= max) return text
  let out = ""
  for (const char of text) {
    if (displayWidth(out + char) > max - 1) break
    out += char
  }
  return `${out}…`
}

const pad = (text: string, width: number) => text + " ".repeat(Math.max(0, width - displayWidth(text)))

/** Rows under upper-case headers, columns two spaces apart; the last column is not padded. */
export const table = <A>(rows: ReadonlyArray<A>, columns: ReadonlyArray<Column<A>>): string => {
  const cells = rows.map((row) => columns.map((column) => cut(safeText(column.value(row)), column.max)))
  const widths = columns.map((column, i) =>
    Math.max(displayWidth(column.header), ...cells.map((line) => displayWidth(line[i] ?? "")))
  )
  const line = (values: ReadonlyArray<string>) =>
    values
      .map((value, i) => (i === values.length - 1 ? value : pad(value, widths[i] ?? 0)))
      .join("  ")
      .trimEnd()
  return `${[line(columns.map((c) => c.header)), ...cells.map(line)].join("\n")}\n`
}

/** `label  value` lines, labels aligned. */
export const keyValues = (pairs: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(0, ...pairs.map(([label]) => displayWidth(label)))
  return `${pairs.map(([label, value]) => `${pad(`${label}:`, width + 1)}  ${safeText(value)}`.trimEnd()).join("\n")}\n`
}

/** `2026-12-01T10:22:03.512Z` → `2026-12-01 10:22:03Z`: to the second is enough for a table. */
export const shortTime = (iso: string): string => {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(iso)
  return match ? `${match[1]} ${match[2]}Z` : iso
}

/** Prints `data` as one JSON document with `--json`, otherwise what `human` renders from it. */
export const emit = <A>(io: Io, json: boolean | undefined, data: A, human: (data: A) => string) => {
  io.out(json === true ? `${safeJson(data)}\n` : human(data))
}
