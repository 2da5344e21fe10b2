/**
 * Real terminals for end-to-end tests: each `parley` runs in its own tmux session (80x24) on a
 * tmux server private to the test, and the test reads what a person would see with
 * `capture-pane`. Waits poll the screen until the text shows up, within a generous deadline.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"

export const hasTmux = () => spawnSync("tmux", ["-V"], { stdio: "ignore" }).status === 0

export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

export class Tmux {
  /** A tmux server of its own: the user's sessions are never touched. */
  readonly socket = `parley-e2e-${randomBytes(4).toString("hex")}`

  run(...args: Array<string>): string {
    return execFileSync("tmux", ["-L", this.socket, ...args], { encoding: "utf8" })
  }

  /** Starts `command` in a new 80x24 session; the pane stays after it exits, with the exit code. */
  start(session: string, command: string, env: Record<string, string>) {
    const exports = Object.entries(env)
      .map(([k, v]) => `${k}=${shellQuote(v)}`)
      .join(" ")
    const script = `env ${exports} ${command}; echo "[parley exited with $?]"; sleep 3600`
    this.run("new-session", "-d", "-s", session, "-x", "80", "-y", "24", "sh", "-c", script)
  }

  /** What is on the screen now. */
  screen(session: string): string {
    return this.run("capture-pane", "-p", "-t", session)
  }

  /** The whole history and the screen, wrapped lines joined. */
  history(session: string): string {
    return this.run("capture-pane", "-p", "-J", "-S", "-", "-t", session)
  }

  /** Types text literally (no key names), as a person typing it would. */
  type(session: string, text: string) {
    this.run("send-keys", "-t", session, "-l", text)
  }

  key(session: string, ...keys: Array<string>) {
    this.run("send-keys", "-t", session, ...keys)
  }

  /** Polls the screen (or history) until `check` holds; fails with what was on screen. */
  async waitFor(
    session: string,
    what: string,
    check: (screen: string) => boolean,
    options: { readonly timeoutMs?: number; readonly history?: boolean } = {}
  ): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 90_000)
    for (;;) {
      const text = options.history ? this.history(session) : this.screen(session)
      if (check(text)) return text
      if (Date.now() > deadline) {
        throw new Error(`${session}: timed out waiting for ${what}; the screen shows:\n${this.screen(session)}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  kill() {
    try {
      this.run("kill-server")
    } catch {
      // Already gone.
    }
  }
}

/** How many times `needle` occurs in `text`. */
export const occurrences = (text: string, needle: string) => text.split(needle).length - 1
