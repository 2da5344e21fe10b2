/**
 * Sign in, or create an account (Ctrl-N switches), inside the app. Enter moves to the next
 * field and submits on the last; ↑/↓ or Tab move between fields. Errors are one line.
 *
 * The form reads the keyboard itself, with the values and the focused field in a ref, so a
 * fast typist (or a paste such as "name⏎password⏎") fills each field in turn even before
 * React has re-rendered.
 */
import { Box, type Key, Text, useInput } from "ink"
import { useRef, useState } from "react"
import { safeText } from "../../shared/safe-text.ts"
import { h } from "./h.ts"

export type LoginMode = "login" | "signup"

export interface LoginValues {
  readonly username: string
  readonly email: string
  readonly password: string
}

type Field = keyof LoginValues

const fieldsOf = (mode: LoginMode): ReadonlyArray<Field> =>
  mode === "login" ? ["username", "password"] : ["username", "email", "password"]

interface Form {
  readonly mode: LoginMode
  readonly focus: number
  readonly values: LoginValues
  readonly busy: boolean
  readonly error: string | null
}

export const LoginScreen = (props: {
  readonly server: string
  readonly initialMode: LoginMode
  /** Resolves when signed in; rejects with the line to show. */
  readonly onSubmit: (mode: LoginMode, values: LoginValues) => Promise<void>
  readonly onQuit: () => void
}) => {
  const form = useRef<Form>({
    mode: props.initialMode,
    focus: 0,
    values: { username: "", email: "", password: "" },
    busy: false,
    error: null
  })
  const [, setShown] = useState(form.current)
  const set = (change: Partial<Form>) => {
    form.current = { ...form.current, ...change }
    setShown(form.current)
  }
  const fields = () => fieldsOf(form.current.mode)
  const move = (delta: number) => {
    const count = fields().length
    set({ focus: (form.current.focus + delta + count) % count })
  }
  const edit = (change: (value: string) => string) => {
    const field = fields()[form.current.focus]!
    set({ values: { ...form.current.values, [field]: change(form.current.values[field]) } })
  }

  const submit = () => {
    const { mode, values } = form.current
    const missing = fields().find((f) => values[f].trim().length === 0)
    if (missing !== undefined) return set({ focus: fields().indexOf(missing), error: `${missing} is empty` })
    set({ busy: true, error: null })
    props.onSubmit(mode, values).catch((e: unknown) => {
      set({ busy: false, error: e instanceof Error ? e.message : String(e) })
    })
  }

  const enter = () => (form.current.focus === fields().length - 1 ? submit() : move(1))

  useInput((input: string, key: Key) => {
    if (key.ctrl && input === "c") return props.onQuit()
    if (form.current.busy) return
    if (key.ctrl && input === "n") {
      return set({ mode: form.current.mode === "login" ? "signup" : "login", focus: 0, error: null })
    }
    if (key.upArrow || (key.tab && key.shift)) return move(-1)
    if (key.downArrow || key.tab) return move(1)
    if (key.return) return enter()
    if (key.backspace) return edit((v) => v.slice(0, -1))
    if (key.ctrl && input === "u") return edit(() => "")
    if (key.ctrl || key.meta || key.escape || input.length === 0) return
    input.split(/\r\n|\r|\n/).forEach((part, i) => {
      if (i > 0) enter()
      if (part.length > 0 && !form.current.busy) edit((v) => v + part)
    })
  })

  const { mode, focus, values, busy, error } = form.current
  const title = mode === "login" ? "Sign in to" : "Create an account on"
  const other = mode === "login" ? "Ctrl-N: create an account instead" : "Ctrl-N: sign in instead"
  return h(
    Box,
    { flexDirection: "column", borderStyle: "round", borderColor: "cyan", paddingX: 1 },
    h(Text, { bold: true }, `${title} ${safeText(props.server)}`),
    h(Text, { dimColor: true }, `${other} · Enter: next / submit · Ctrl-C: quit`),
    ...fieldsOf(mode).map((field, i) =>
      h(
        Box,
        { key: `${mode}-${field}` },
        h(Text, { color: i === focus ? "cyan" : "gray" }, field.padEnd(10)),
        h(
          Text,
          null,
          field === "password" ? "•".repeat(values[field].length) : safeText(values[field]),
          i === focus && !busy ? h(Text, { inverse: true }, " ") : ""
        )
      )
    ),
    busy ? h(Text, { color: "yellow" }, mode === "login" ? "signing in…" : "creating the account…") : null,
    error === null ? null : h(Text, { color: "red" }, safeText(error))
  )
}
