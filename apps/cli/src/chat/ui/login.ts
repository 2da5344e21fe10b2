/**
 * Sign in, or create an account (Ctrl-N switches), inside the app. Enter moves to the next
 * field and submits on the last; ↑/↓ or Tab move between fields. Errors are one line.
 */
import { Box, type Key, Text } from "ink"
import { useRef, useState } from "react"
import { safeText } from "../../shared/safe-text.ts"
import { h } from "./h.ts"
import { Input } from "./input.ts"

export type LoginMode = "login" | "signup"

export interface LoginValues {
  readonly username: string
  readonly email: string
  readonly password: string
}

type Field = keyof LoginValues

const fieldsOf = (mode: LoginMode): ReadonlyArray<Field> =>
  mode === "login" ? ["username", "password"] : ["username", "email", "password"]

const labels: Record<Field, string> = { username: "username", email: "email", password: "password" }

export const LoginScreen = (props: {
  readonly server: string
  readonly initialMode: LoginMode
  /** Resolves when signed in; rejects with the line to show. */
  readonly onSubmit: (mode: LoginMode, values: LoginValues) => Promise<void>
  readonly onQuit: () => void
}) => {
  const [mode, setMode] = useState<LoginMode>(props.initialMode)
  const [focus, setFocus] = useState(0)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const values = useRef<LoginValues>({ username: "", email: "", password: "" })
  const fields = fieldsOf(mode)

  const move = (delta: number) => setFocus((f) => (f + delta + fields.length) % fields.length)

  const submit = () => {
    if (busy) return
    const missing = fields.find((f) => values.current[f].trim().length === 0)
    if (missing !== undefined) {
      setFocus(fields.indexOf(missing))
      return setError(`${labels[missing]} is empty`)
    }
    setBusy(true)
    setError(null)
    props.onSubmit(mode, values.current).catch((e: unknown) => {
      setBusy(false)
      setError(e instanceof Error ? e.message : String(e))
    })
  }

  const onKey = (input: string, key: Key) => {
    if (key.ctrl && input === "c") {
      props.onQuit()
      return true
    }
    if (key.ctrl && input === "n") {
      setMode((m) => (m === "login" ? "signup" : "login"))
      setFocus(0)
      setError(null)
      return true
    }
    if (key.upArrow || (key.tab && key.shift)) {
      move(-1)
      return true
    }
    if (key.downArrow || key.tab) {
      move(1)
      return true
    }
    return false
  }

  const title = mode === "login" ? "Sign in to" : "Create an account on"
  const other = mode === "login" ? "Ctrl-N: create an account instead" : "Ctrl-N: sign in instead"
  return h(
    Box,
    { flexDirection: "column", borderStyle: "round", borderColor: "cyan", paddingX: 1 },
    h(Text, { bold: true }, `${title} ${safeText(props.server)}`),
    h(Text, { dimColor: true }, `${other} · Enter: next / submit · Ctrl-C: quit`),
    ...fields.map((field, i) =>
      h(
        Box,
        { key: `${mode}-${field}` },
        h(Text, { color: i === focus ? "cyan" : "gray" }, labels[field].padEnd(10)),
        h(Input, {
          prompt: "",
          mask: field === "password",
          keep: true,
          value: values.current[field],
          isActive: i === focus && !busy,
          onKey,
          onChange: (value: string) => {
            values.current = { ...values.current, [field]: value }
          },
          onSubmit: () => (i === fields.length - 1 ? submit() : move(1))
        })
      )
    ),
    busy ? h(Text, { color: "yellow" }, mode === "login" ? "signing in…" : "creating the account…") : null,
    error === null ? null : h(Text, { color: "red" }, safeText(error))
  )
}
