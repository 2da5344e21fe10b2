/**
 * The input line, the one component that reads the keyboard. Keys it does not edit with
 * (PageUp, Esc, Ctrl-R, arrows on the room list…) are offered to `onKey` first; returning true
 * consumes them. The value lives in a ref as well as in state, so keys that arrive faster than
 * React renders are never lost.
 */
import { Box, type Key, Text, useInput } from "ink"
import { useRef, useState } from "react"
import { safeText } from "../../shared/safe-text.ts"
import { h } from "./h.ts"

export interface InputProps {
  readonly prompt?: string
  readonly placeholder?: string
  /** Shows `•` for every character (passwords). */
  readonly mask?: boolean
  readonly isActive?: boolean
  /** Offered every key first, with the current value; true means handled. */
  readonly onKey?: (input: string, key: Key, value: string) => boolean
  readonly onChange?: (value: string) => void
  /** Enter. The line is cleared unless `keep` is set. */
  readonly onSubmit: (value: string) => void
  readonly keep?: boolean
  /** Set to replace the value from outside (e.g. a form switching fields). */
  readonly value?: string
}

interface Line {
  readonly value: string
  readonly cursor: number
}

const wordStart = (value: string, cursor: number) => {
  let i = cursor
  while (i > 0 && value[i - 1] === " ") i--
  while (i > 0 && value[i - 1] !== " ") i--
  return i
}

export const Input = (props: InputProps) => {
  const initial = props.value ?? ""
  const line = useRef<Line>({ value: initial, cursor: initial.length })
  const [, setShown] = useState<Line>(line.current)

  const set = (next: Line) => {
    const changed = next.value !== line.current.value
    line.current = next
    setShown(next)
    if (changed) props.onChange?.(next.value)
  }

  const insert = (text: string) => {
    const { value, cursor } = line.current
    set({ value: value.slice(0, cursor) + text + value.slice(cursor), cursor: cursor + text.length })
  }

  const submit = () => {
    const value = line.current.value
    if (!props.keep) set({ value: "", cursor: 0 })
    props.onSubmit(value)
  }

  const onInput = (input: string, key: Key) => {
    if (props.onKey?.(input, key, line.current.value)) return
    const { value, cursor } = line.current
    if (key.return) return submit()
    if (key.backspace) {
      if (cursor > 0) set({ value: value.slice(0, cursor - 1) + value.slice(cursor), cursor: cursor - 1 })
      return
    }
    if (key.delete) {
      if (cursor < value.length) set({ value: value.slice(0, cursor) + value.slice(cursor + 1), cursor })
      return
    }
    if (key.leftArrow) return set({ value, cursor: Math.max(0, cursor - 1) })
    if (key.rightArrow) return set({ value, cursor: Math.min(value.length, cursor + 1) })
    if (key.home || (key.ctrl && input === "a")) return set({ value, cursor: 0 })
    if (key.end || (key.ctrl && input === "e")) return set({ value, cursor: value.length })
    if (key.ctrl && input === "u") return set({ value: value.slice(cursor), cursor: 0 })
    if (key.ctrl && input === "k") return set({ value: value.slice(0, cursor), cursor })
    if (key.ctrl && input === "w") {
      const start = wordStart(value, cursor)
      return set({ value: value.slice(0, start) + value.slice(cursor), cursor: start })
    }
    if (key.ctrl || key.meta || key.escape || key.tab || key.upArrow || key.downArrow) return
    if (key.pageUp || key.pageDown || input.length === 0) return
    // Text that arrived in one chunk with Enter in it (fast typing, a paste): each \r submits.
    const parts = input.replace(/\r\n/g, "\r").split(/[\r\n]/)
    parts.forEach((part, i) => {
      if (i > 0) submit()
      if (part.length > 0) insert(part)
    })
  }

  useInput(onInput, { isActive: props.isActive ?? true })

  const { value, cursor } = line.current
  const shown = props.mask ? "•".repeat(value.length) : safeText(value)
  const before = props.mask ? shown.slice(0, cursor) : safeText(value.slice(0, cursor))
  const at = props.mask ? (cursor < value.length ? "•" : " ") : safeText(value.slice(cursor, cursor + 1)) || " "
  const after = props.mask ? shown.slice(cursor + 1) : safeText(value.slice(cursor + 1))
  const active = props.isActive ?? true
  return h(
    Box,
    { flexDirection: "row" },
    h(Text, { color: "cyan" }, props.prompt ?? "> "),
    value.length === 0 && props.placeholder !== undefined && active
      ? h(Text, null, h(Text, { inverse: true }, " "), h(Text, { dimColor: true }, props.placeholder))
      : h(Text, { wrap: "wrap" }, before, active ? h(Text, { inverse: true }, at) : at, after)
  )
}
