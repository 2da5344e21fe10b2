/** "alice is typing…": one line, always present (blank when nobody types) so the layout holds still. */
import { Text } from "ink"
import { h } from "./h.ts"

export const TypingLine = (props: { readonly text: string }) =>
  h(Text, { color: "gray", italic: true, wrap: "truncate" }, props.text.length === 0 ? " " : props.text)
