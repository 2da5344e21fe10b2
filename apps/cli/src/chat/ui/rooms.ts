/** The room list: your rooms first (with how many entries you have not read), then public ones to join. */
import { Box, Text } from "ink"
import { safeText } from "../../shared/safe-text.ts"
import { roomLabel } from "../room-label.ts"
import type { RoomEntry } from "../state.ts"
import { h } from "./h.ts"

/** The unread count in a fixed width, so names line up; blank when all is read. */
export const unreadMark = (unread: number) => (unread === 0 ? "" : unread > 99 ? "99+" : String(unread)).padStart(3)

export const RoomList = (props: {
  readonly entries: ReadonlyArray<RoomEntry>
  readonly selected: number
  readonly loading: boolean
  /** Rows available; the list scrolls to keep the selection in view. */
  readonly height: number
}) => {
  const { entries, selected, loading } = props
  if (entries.length === 0) {
    return h(
      Text,
      { color: "gray" },
      loading ? "loading rooms…" : "no rooms yet: /create NAME makes one, /help lists the commands"
    )
  }
  const height = Math.max(3, props.height)
  const first = Math.min(Math.max(0, selected - Math.floor(height / 2)), Math.max(0, entries.length - height))
  const rows = entries.slice(first, first + height).map((entry, i) => {
    const index = first + i
    const mark = unreadMark(entry.unread)
    const tag = entry.joined ? "" : "  (public, join)"
    // A direct room is private by nature: its `@` says so.
    const lock = entry.room.visibility === "private" && entry.room.kind !== "direct" ? " 🔒" : ""
    const archived = entry.room.archived ? " (archived)" : ""
    return h(
      Text,
      { key: entry.room.room_id, inverse: index === selected, wrap: "truncate" },
      h(Text, { color: "yellow", bold: true }, `${mark} `),
      `${safeText(roomLabel(entry.room))}${lock}${archived}`,
      h(Text, { color: "gray" }, tag)
    )
  })
  return h(
    Box,
    { flexDirection: "column" },
    h(Text, { bold: true }, `Rooms ${loading ? "(refreshing…)" : ""}`),
    ...rows,
    h(Text, { dimColor: true }, "↑↓ Enter to open · /create NAME · /join NAME · /dm USER · ? help")
  )
}
