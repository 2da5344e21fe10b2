/**
 * The scrollback window (PageUp): a fixed-height view of the open room's history ending at
 * `end`, fetched from the server page by page as you go back. Esc returns to live messages.
 */
import type { MessageView } from "@parley/domain"
import { Box, Text } from "ink"
import type { Me, Scrollback } from "../state.ts"
import { h } from "./h.ts"
import { MessageRow } from "./message-list.ts"

/** Rows a message takes at `columns` wide, roughly (the header is about 14 columns). */
const rowsOf = (message: MessageView, columns: number) =>
  message.text
    .split("\n")
    .reduce((rows, line) => rows + Math.max(1, Math.ceil((line.length + message.username.length + 7) / columns)), 0)

/** How many messages ending at `end` fit in `height` rows: also the PageUp/PageDown step. */
export const visibleCount = (messages: ReadonlyArray<MessageView>, end: number, height: number, columns: number) => {
  let rows = 0
  let count = 0
  for (let i = end - 1; i >= 0; i--) {
    rows += rowsOf(messages[i]!, columns)
    if (rows > height) break
    count++
  }
  return Math.max(1, count)
}

export const ScrollbackView = (props: {
  readonly messages: ReadonlyArray<MessageView>
  readonly scrollback: Scrollback
  readonly me: Me
  readonly height: number
  readonly columns: number
}) => {
  const { messages, scrollback, height, columns } = props
  const count = visibleCount(messages, scrollback.end, height, columns)
  const shown = messages.slice(Math.max(0, scrollback.end - count), scrollback.end)
  const top = scrollback.loading
    ? "loading older messages…"
    : scrollback.exhausted && scrollback.end - count <= 0
      ? "── start of the room ──"
      : "PageUp for older"
  return h(
    Box,
    { flexDirection: "column", borderStyle: "single", borderColor: "gray", borderLeft: false, borderRight: false },
    h(Text, { color: "gray" }, `${top}  ·  PageDown newer · Esc back to live`),
    h(
      Box,
      { flexDirection: "column", height, overflowY: "hidden", justifyContent: "flex-end" },
      ...shown.map((m) =>
        h(Box, { key: m.msg_id }, h(MessageRow, { message: m, mine: m.user_id === props.me.user_id }))
      )
    )
  )
}
