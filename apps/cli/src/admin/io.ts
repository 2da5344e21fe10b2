/**
 * Everything a command touches outside itself: output streams, stdin, the environment and
 * the host name. `main.ts` passes the real process; unit tests pass a recording fake.
 */
import { hostname } from "node:os"

export interface Io {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  readonly env: NodeJS.ProcessEnv
  /** Whether stdin is a terminal a person types into (prompts), or a pipe (scripts). */
  readonly stdinIsTTY: boolean
  /** All of stdin (when it is a pipe). */
  readonly readStdin: () => Promise<string>
  /** Asks on the terminal; with `hidden`, what is typed is not echoed (passwords). */
  readonly prompt: (question: string, options?: { readonly hidden?: boolean }) => Promise<string>
  readonly hostname: () => string
  /**
   * Told each time this command finds the saved login locked by another one and waits for
   * it (see login-store.ts); tests wait on it to know a second command reached the lock.
   */
  readonly onLoginLockBusy?: () => void
}

const readAll = async (stream: NodeJS.ReadableStream): Promise<string> => {
  let text = ""
  for await (const chunk of stream) text += chunk.toString()
  return text
}

/**
 * Reads one line from the terminal in raw mode, echoing nothing when hidden. Ctrl-C and
 * Ctrl-D abandon the prompt with an error instead of leaving the terminal in raw mode.
 */
const promptTTY = (question: string, hidden: boolean): Promise<string> =>
  new Promise((resolve, reject) => {
    const stdin = process.stdin
    // Raw (no echo) before the question shows, so an answer typed at once is not echoed.
    stdin.setRawMode(true)
    process.stderr.write(question)
    let answer = ""
    const finish = (error?: Error) => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.off("data", onData)
      process.stderr.write("\n")
      if (error) reject(error)
      else resolve(answer)
    }
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString("utf8")) {
        if (char === "\r" || char === "\n") return finish()
        if (char === "\u0003" || char === "\u0004") return finish(new Error("cancelled"))
        if (char === "\u007f" || char === "\b") {
          if (answer.length > 0) {
            answer = [...answer].slice(0, -1).join("")
            if (!hidden) process.stderr.write("\b \b")
          }
        } else if (char >= " ") {
          answer += char
          if (!hidden) process.stderr.write(char)
        }
      }
    }
    stdin.resume()
    stdin.on("data", onData)
  })

export const processIo = (): Io => ({
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  stdinIsTTY: process.stdin.isTTY === true,
  readStdin: () => readAll(process.stdin),
  prompt: (question, options) => promptTTY(question, options?.hidden === true),
  hostname
})
