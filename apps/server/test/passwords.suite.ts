/**
 * The password policy and NFKC over real HTTP against a real server process, once per storage
 * backend: weak new passwords get 400 `weak_password` naming the rule, a password typed in NFC
 * at signup and NFD at login is the same, and a hash stored before normalization (planted
 * straight into the backend's storage, made from the raw NFD string) still logs in and is
 * made again from the NFKC form.
 */

import type { UserId } from "@parley/domain"
import { Users } from "@parley/storage"
import argon2 from "argon2"
import { Effect, Layer, Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { request, uniqueName } from "./support/http.ts"
import { type Backend, type RunningServer, startServer } from "./support/server.ts"

const nfc = "pässwörd-ñ-12".normalize("NFC")
const nfd = nfc.normalize("NFD")

export const passwordsSuite = (backend: Backend) =>
  describe(`passwords over HTTP (${backend.name})`, () => {
    let server: RunningServer
    const call = <T = any>(method: string, path: string, options?: Parameters<typeof request>[3]) =>
      request<T>(server.url, method, path, options)
    const signup = (password: string, name = uniqueName("pw")) =>
      call("POST", "/signup", { body: { username: name, email: `${name}@example.com`, password } })
    const login = (name: string, password: string) =>
      call("POST", "/login", { body: { email_or_username: name, password } })
    /** Runs against the server's own storage, as an operator's tool would. */
    const inStorage = <A>(effect: Effect.Effect<A, unknown, Users>) =>
      Effect.runPromise(effect.pipe(Effect.provide(backend.storage(server.env).pipe(Layer.orDie)), Effect.orDie))

    beforeAll(async () => {
      server = await startServer(backend)
    })
    afterAll(async () => {
      await server?.stop()
    })

    it("refuses common passwords, in any case or NFKC form, with 400 weak_password", async () => {
      for (const password of ["password", "12345678", "PassWord", "ｑｗｅｒｔｙｕｉｏｐ"]) {
        const name = uniqueName("pw")
        const res = await signup(password, name)
        expect(res.status, password).toBe(400)
        expect(res.body.error).toEqual({
          code: "weak_password",
          message: "that password is one of the most common passwords; choose another"
        })
        // Nothing was stored: the name is still free.
        expect((await signup("correct horse battery", name)).status).toBe(201)
      }
    })

    it("refuses passwords of only whitespace or invisible characters with 400 weak_password", async () => {
      for (const password of [
        " ".repeat(8),
        "\t\n\t\n\t\n\t\n",
        "\u200b".repeat(8),
        "\u3000 \u00a0\u2060\u3000 \u00a0\u2060"
      ]) {
        const res = await signup(password)
        expect(res.status, JSON.stringify(password)).toBe(400)
        expect(res.body.error).toEqual({
          code: "weak_password",
          message: "password must contain characters other than whitespace and invisible or control characters"
        })
      }
      // Spaces around other characters are fine.
      expect((await signup("  a quiet   river  ")).status).toBe(201)
    })

    it("a password typed in NFC at signup logs in typed in NFD, and the other way round", async () => {
      const first = uniqueName("nfc")
      expect((await signup(nfc, first)).status).toBe(201)
      expect((await login(first, nfd)).status).toBe(200)
      expect((await login(first, nfc)).status).toBe(200)
      const second = uniqueName("nfd")
      expect((await signup(nfd, second)).status).toBe(201)
      expect((await login(second, nfc)).status).toBe(200)
      expect((await login(second, `${nfc}!`)).status).toBe(401)
    })

    it("a hash made before normalization still logs in, and is made again from the NFKC form", async () => {
      const name = uniqueName("legacy")
      const created = await signup("placeholder pass", name)
      expect(created.status).toBe(201)
      const id = created.body.id as UserId
      const legacy = await argon2.hash(nfd, { type: argon2.argon2id })
      await inStorage(
        Effect.gen(function* () {
          const users = yield* Users
          yield* users.update(id, { passwordHash: legacy }, Date.now())
        })
      )
      const storedHash = () =>
        inStorage(
          Effect.gen(function* () {
            const users = yield* Users
            return Option.getOrThrow(yield* users.findById(id)).passwordHash
          })
        )

      expect((await login(name, nfc)).status).toBe(401)
      expect((await login(name, nfd)).status).toBe(200)
      const upgraded = await storedHash()
      expect(upgraded).not.toBe(legacy)
      expect(await argon2.verify(upgraded, nfd.normalize("NFKC"))).toBe(true)
      expect((await login(name, nfc)).status).toBe(200)
    })
  })
