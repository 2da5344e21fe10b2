/**
 * Parley's accounts for the bench, made through the public HTTP API as any client would:
 * sign-up, login, one public room created by the first account and joined by every other
 * (so that any of them may post). Written to a JSON file the load generator reads.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"

const post = async (base: string, path: string, body: unknown, token?: string) => {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {})
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
  return (await response.json()) as Record<string, any>
}

/** `count` items mapped with at most `concurrency` at once, in order. */
const mapLimit = async <A, B>(items: ReadonlyArray<A>, concurrency: number, f: (a: A) => Promise<B>) => {
  const out: Array<B> = new Array(items.length)
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++
        out[i] = await f(items[i]!)
      }
    })
  )
  return out
}

export interface Accounts {
  readonly file: string
  readonly room: string
  readonly users: number
}

export const makeAccounts = async (base: string, users: number, dir: string): Promise<Accounts> => {
  const tag = Date.now().toString(36)
  const password = "bench-password-12"
  const made = await mapLimit(
    Array.from({ length: users }, (_, n) => n),
    8,
    async (n) => {
      const username = `rt${tag}u${n}`
      await post(base, "/signup", { username, email: `${username}@example.com`, password })
      const login = await post(base, "/login", { email_or_username: username, password })
      return { username, password, token: login.token as string }
    }
  )
  const room = (await post(base, "/api/chat/rooms", { name: `bench ${tag}`, visibility: "public" }, made[0]!.token))
    .room_id as string
  await mapLimit(made.slice(1), 8, (u) => post(base, `/api/chat/rooms/${room}/join`, undefined, u.token))
  const file = join(dir, "parley-accounts.json")
  writeFileSync(
    file,
    JSON.stringify({
      room,
      tokens: made.map((u) => u.token),
      users: made.map(({ username, password }) => ({ username, password }))
    })
  )
  return { file, room, users }
}
