/**
 * The chat log. Each line is printed once through ink's `<Static>`, above the live part of the
 * screen, and never redrawn: new messages do not make the screen flicker, and what scrolled
 * away stays in the terminal's own scrollback. Every server string goes through safe-text.
 */
import type { MessageView } from "@parley/domain"
import { Box, Static, Text } from "ink"
import { safeMultiline, safeText } from "../../shared/safe-text.ts"
import { shownText } from "../changes.ts"
import type { LogItem } from "../state.ts"
import { h } from "./h.ts"

const palette = ["cyan", "green", "yellow", "magenta", "blue", "red"] as const

/** One stable colour per user, so a conversation is easy to follow. */
export const userColor = (userId: string) => {
  let hash = 0
  for (const char of userId) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0
  return palette[hash % palette.length]!
}

export const clock = (iso: string) => {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return "--:--"
  return `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`
}

/** `12:03 alice  text` with continuation lines of a long or multi-line text indented under it. */
export const MessageRow = (props: { readonly message: MessageView; readonly mine: boolean }) => {
  const { message, mine } = props
  return h(
    Box,
    { flexDirection: "row" },
    h(Text, { dimColor: true }, `${clock(message.created_at)} `),
    h(Text, { bold: true, color: mine ? "white" : userColor(message.user_id) }, `${safeText(message.username)} `),
    h(
      Box,
      { flexGrow: 1, flexShrink: 1 },
      h(Text, { wrap: "wrap", dimColor: message.deleted_by !== null }, safeMultiline(shownText(message)))
    )
  )
}

export const LogRow = (props: { readonly item: LogItem }) => {
  const { item } = props
  switch (item.kind) {
    case "message":
      return h(MessageRow, { message: item.message, mine: item.mine })
    case "room":
      return h(Text, { color: "gray" }, `── ${safeText(item.name)} ──`)
    case "system":
      return h(Text, { color: item.tone === "error" ? "red" : "gray" }, `* ${safeText(item.text)}`)
  }
}

export const MessageLog = (props: { readonly items: ReadonlyArray<LogItem> }) =>
  h(Static<LogItem>, {
    items: props.items as Array<LogItem>,
    children: (item) => h(Box, { key: item.key }, h(LogRow, { item }))
  })
