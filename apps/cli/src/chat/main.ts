#!/usr/bin/env node
/**
 * `parley`, the terminal chat client. Signs in (from the saved session, the in-app form, or
 * `--password-stdin` for scripts), then runs the chat screen until /quit, Ctrl-C, or the
 * session ends. Any failure is one line on stderr, never a stack trace (PARLEY_DEBUG=1 shows it).
 */
import { render } from "ink"
import { useEffect, useState } from "react"
import { ApiError } from "../shared/http.ts"
import { safeText } from "../shared/safe-text.ts"
import { httpChatApi } from "./api.ts"
import { exitCodes, parseChatArgs, resolveServer, UsageError, usage } from "./args.ts"
import { AuthSession, SignedOutError } from "./auth.ts"
import { ChatController, describeError } from "./controller.ts"
import { openChatSocket } from "./socket.ts"
import { ConfigStore } from "./store.ts"
import { ChatApp } from "./ui/app.ts"
import { h } from "./ui/h.ts"
import { type LoginMode, LoginScreen, type LoginValues } from "./ui/login.ts"

let unmountUi: (() => void) | undefined

const fail = (error: unknown): never => {
  unmountUi?.()
  if (process.env.PARLEY_DEBUG === "1" && error instanceof Error) console.error(error.stack)
  const code =
    error instanceof UsageError
      ? exitCodes.usage
      : error instanceof SignedOutError
        ? exitCodes.notAuthenticated
        : exitCodes.failure
  process.stderr.write(`parley: ${describeError(error)}\n`)
  if (error instanceof UsageError) process.stderr.write("run parley --help for usage\n")
  process.exit(code)
}

process.on("uncaughtException", fail)
process.on("unhandledRejection", fail)

const readStdin = async () => {
  let text = ""
  for await (const chunk of process.stdin) text += chunk
  return text.replace(/\r?\n$/, "")
}

const signIn = (server: string, store: ConfigStore, mode: LoginMode, values: LoginValues) =>
  mode === "signup"
    ? AuthSession.signup(server, store, {
        username: values.username.trim(),
        email: values.email.trim(),
        password: values.password
      })
    : AuthSession.login(server, store, { username: values.username.trim(), password: values.password })

const Root = (props: {
  readonly server: string
  readonly store: ConfigStore
  readonly auth: AuthSession | undefined
  readonly mode: LoginMode
  readonly room: string | undefined
  readonly onExit: (code: number, message?: string) => void
}) => {
  const [auth, setAuth] = useState(props.auth)
  const [controller] = useState(() => ({ current: undefined as ChatController | undefined }))
  if (auth !== undefined && controller.current === undefined) {
    controller.current = new ChatController({
      me: { user_id: auth.user.id, username: auth.user.username },
      api: httpChatApi(auth),
      connect: (handlers) =>
        openChatSocket(
          props.server,
          { accessToken: () => auth.accessToken(), refresh: () => auth.refresh() },
          // Closed with 4003: the stored refresh token is dead too, so it is forgotten now.
          { ...handlers, onSignedOut: (error) => handlers.onSignedOut(auth.endSession(error)) }
        ),
      logout: () => auth.logout(),
      onExit: props.onExit
    })
  }
  const current = controller.current
  useEffect(() => {
    if (current === undefined) return
    current.start(props.room)
    return () => current.stop()
  }, [current, props.room])
  if (auth === undefined || current === undefined) {
    return h(LoginScreen, {
      server: props.server,
      initialMode: props.mode,
      onQuit: () => props.onExit(exitCodes.ok),
      onSubmit: async (mode: LoginMode, values: LoginValues) => {
        try {
          setAuth(await signIn(props.server, props.store, mode, values))
        } catch (error) {
          throw new Error(describeError(error))
        }
      }
    })
  }
  return h(ChatApp, { controller: current })
}

const main = async () => {
  const args = parseChatArgs(process.argv.slice(2))
  if (args.help) {
    process.stdout.write(`${usage}\n`)
    return
  }
  const server = resolveServer(args.server, process.env, ConfigStore.lastServer())
  const store = new ConfigStore(server)

  if (args.passwordStdin) {
    const password = await readStdin()
    const values = { username: args.username ?? "", email: args.email ?? "", password }
    const auth = await signIn(server, store, args.signup ? "signup" : "login", values)
    auth.close()
    process.stdout.write(`signed in to ${server} as ${safeText(auth.user.username)}\n`)
    return
  }

  if (args.logout) {
    const auth = await AuthSession.resume(server, store)
    if (auth === undefined) {
      process.stdout.write(`not signed in to ${server}\n`)
      return
    }
    await auth.logout()
    process.stdout.write(`signed out of ${server}\n`)
    return
  }

  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UsageError("parley is interactive: run it in a terminal (scripts sign in with --password-stdin)")
  }

  const auth = await AuthSession.resume(server, store)
  let exit: { code: number; message: string | undefined } = { code: exitCodes.ok, message: undefined }
  const instance = render(
    h(Root, {
      server,
      store,
      auth,
      mode: args.signup ? "signup" : "login",
      room: args.room,
      onExit: (code: number, message?: string) => {
        exit = { code, message }
        instance.unmount()
      }
    }),
    // CI sets CI=true, which would make ink print only the last frame: this is a terminal.
    { interactive: true, exitOnCtrlC: false }
  )
  unmountUi = () => instance.unmount()
  await instance.waitUntilExit()
  unmountUi = undefined
  // The last unread marks and a forgotten token are written under chat.json's lock: finish
  // those writes (and release the lock) before the process ends.
  await store.flush()
  if (exit.message !== undefined) {
    const stream = exit.code === exitCodes.ok ? process.stdout : process.stderr
    stream.write(`parley: ${exit.message}\n`)
  }
  process.exit(exit.code)
}

main().catch((error: unknown) => {
  if (error instanceof ApiError && error.status === 401) return fail(new SignedOutError(error.message))
  fail(error)
})
