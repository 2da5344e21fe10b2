/** The bottom lines: where you are, who is here, the connection, and the one notice line. */
import { Box, Text } from "ink"
import { safeText } from "../../shared/safe-text.ts"
import { roomLabel } from "../room-label.ts"
import type { Connection, State } from "../state.ts"
import { h } from "./h.ts"

const connectionText = (c: Connection): { text: string; color: string } => {
  switch (c.state) {
    case "connecting":
      return { text: "connecting…", color: "yellow" }
    case "online":
      return { text: "● connected", color: "green" }
    case "offline":
      return { text: `○ offline (${c.reason}), reconnecting…`, color: "yellow" }
    case "signed-out":
      return { text: "signed out", color: "red" }
  }
}

/** "bob, carol +3": as many names as fit in a short summary; `count` may exceed the names known. */
export const onlineSummary = (names: ReadonlyArray<string>, max = 3, count = names.length) => {
  if (count === 0) return "nobody online"
  if (names.length === 0) return `${count} online`
  const shown = names.slice(0, max)
  const more = Math.max(count, names.length) - shown.length
  return more > 0 ? `${shown.map(safeText).join(", ")} +${more}` : shown.map(safeText).join(", ")
}

export const StatusBar = (props: { readonly state: State }) => {
  const { state } = props
  const conn = connectionText(state.connection)
  const where =
    state.room === null ? "rooms" : `${safeText(roomLabel(state.room))}${state.room.archived ? " (archived)" : ""}`
  // A room too big for per-user news: its count is current, the names known may not be.
  const names = state.onlineStale ? [] : state.online.map((u) => u.username)
  const who = state.room === null ? "" : ` · ${onlineSummary(names, 3, state.onlineCount)}`
  return h(
    Box,
    { flexDirection: "row", justifyContent: "space-between" },
    h(Text, { wrap: "truncate", bold: true }, where, h(Text, { bold: false, color: "gray" }, who)),
    h(Text, { color: conn.color, wrap: "truncate" }, ` ${conn.text} · ? help`)
  )
}

export const NoticeLine = (props: { readonly notice: State["notice"] }) =>
  props.notice === null
    ? null
    : h(Text, { color: props.notice.tone === "error" ? "red" : "yellow", wrap: "wrap" }, safeText(props.notice.text))
