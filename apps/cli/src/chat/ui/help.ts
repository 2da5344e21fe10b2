/** The keyboard help screen (`?` on an empty line, or /help); any key closes it. */
import { Box, Text } from "ink"
import { commandHelp } from "../commands.ts"
import { h } from "./h.ts"

const keys: ReadonlyArray<readonly [string, string]> = [
  ["Enter", "send the line, or run the /command"],
  ["PageUp / PageDown", "scroll back through older messages"],
  ["Esc", "back to live messages; close this help"],
  ["Ctrl-R", "retry messages that were not sent"],
  ["↑ ↓ Enter", "pick a room in the room list"],
  ["?", "this help (on an empty line; or /help)"],
  ["Ctrl-C", "quit"]
]

const table = (rows: ReadonlyArray<readonly [string, string]>, width: number) =>
  rows.map(([left, right]) =>
    h(Box, { key: left }, h(Text, { color: "cyan" }, left.padEnd(width)), h(Text, { wrap: "truncate" }, right))
  )

export const HelpScreen = () =>
  h(
    Box,
    { flexDirection: "column", borderStyle: "round", borderColor: "gray", paddingX: 1 },
    h(Text, { bold: true }, "Keys"),
    ...table(keys, 20),
    h(Text, { bold: true }, "Commands"),
    ...table(commandHelp, 27),
    h(Text, { dimColor: true }, "any key closes this help")
  )
