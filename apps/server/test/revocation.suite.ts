/**
 * Revocation takes effect at once. For each of the five ways a session ends (logout, revoking
 * one's own session from another device, an admin revoking one session, an admin revoking all
 * of a user's sessions, an admin disabling the user), through node A: the session's sockets
 * close with 4003 on every node, its refresh token and its access token stop working, and
 * nobody else is disturbed. The periodic re-check is set to an hour, so only the immediate
 * path can close anything within the test. With two nodes, one of the sockets sits on node B.
 */
import { CloseCode } from "@parley/domain"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminAccount } from "./support/admin.ts"
import { request } from "./support/http.ts"
import { type Backend, type RunningServer, startAnotherNode, startServer } from "./support/server.ts"
import { type Account, account, connect, createRoom, joinRoom, login, type TestSocket } from "./support/ws.ts"
import { barrier, closedWithin } from "./ws.suite.ts"

interface Trigger {
  readonly name: string
  /** `session`: only the revoked session's sockets close; `user`: all of the user's. */
  readonly scope: "session" | "user"
  /** `sibling` is another session (device) of the victim. */
  readonly run: (victim: Account, sibling: { readonly token: string }) => Promise<void>
}

/** Resolves with the close and when it arrived (set up before the close can happen). */
const closeTime = (sock: TestSocket) => sock.closed.then((closed) => ({ ...closed, at: performance.now() }))

export const revocationSuite = (backend: Backend, options: { readonly twoNodes: boolean }) =>
  describe(`revocation at once (${backend.name}${options.twoNodes ? ", two nodes" : ""})`, () => {
    let a: RunningServer
    let b: RunningServer
    let admin: Account
    const sockets: Array<TestSocket> = []
    const open = async (server: RunningServer, token: string, roomId: string) => {
      const sock = await connect(server.url, { token, roomId })
      sockets.push(sock)
      await sock.next((e) => e.type === "ack" && e.payload.of === "channel.subscribe")
      return sock
    }
    const expectStatus = async (reply: Promise<{ status: number; body: unknown }>, status: number) => {
      const res = await reply
      expect(res.status, JSON.stringify(res.body)).toBe(status)
    }

    beforeAll(async () => {
      a = await startServer(backend, { WS_REAUTH_INTERVAL: "1 hour", RATE_MESSAGES_PER_USER: "100000" })
      b = options.twoNodes ? await startAnotherNode(backend, a) : a
      admin = await adminAccount(backend, a)
    })
    afterAll(async () => {
      for (const sock of sockets) sock.ws.terminate()
      if (b !== a) await b?.stop()
      await a?.stop()
    })

    const adminDo = (method: string, path: string) => request(a.url, method, path, { token: admin.token })
    const triggers: ReadonlyArray<Trigger> = [
      {
        name: "logout",
        scope: "session",
        run: (victim) =>
          expectStatus(
            request(a.url, "POST", "/api/logout", {
              token: victim.token,
              body: { refresh_token: victim.refreshToken }
            }),
            204
          )
      },
      {
        name: "revoking one's session from another device",
        scope: "session",
        run: (victim, sibling) =>
          expectStatus(request(a.url, "DELETE", `/api/sessions/${victim.sessionId}`, { token: sibling.token }), 204)
      },
      {
        name: "an admin revoking the session",
        scope: "session",
        run: (victim) =>
          expectStatus(adminDo("DELETE", `/api/admin/users/${victim.id}/sessions/${victim.sessionId}`), 204)
      },
      {
        name: "an admin revoking all the user's sessions",
        scope: "user",
        run: (victim) => expectStatus(adminDo("DELETE", `/api/admin/users/${victim.id}/sessions`), 200)
      },
      {
        name: "an admin disabling the user",
        scope: "user",
        run: (victim) => expectStatus(adminDo("POST", `/api/admin/users/${victim.id}/disable`), 200)
      }
    ]

    for (const trigger of triggers) {
      it(`${trigger.name}: sockets close with 4003 at once${options.twoNodes ? " on both nodes" : ""}; refresh and the old access token fail`, async () => {
        const victim = await account(a.url, "vic")
        const sibling = await login(a.url, victim.username)
        const watcher = await account(a.url, "wat")
        const roomId = await createRoom(a.url, watcher)
        await joinRoom(a.url, roomId, victim)

        const onA = await open(a, victim.token, roomId)
        const onB = options.twoNodes ? await open(b, victim.token, roomId) : null
        const siblingSock = await open(b, sibling.token, roomId)
        const bystander = await open(b, watcher.token, roomId)
        const closes = { a: closeTime(onA), b: onB === null ? null : closeTime(onB) }

        const started = performance.now()
        await trigger.run(victim, sibling)
        // Sent after the revocation answered: a socket closed at once never gets it.
        const text = `after ${trigger.name}`
        await expectStatus(
          request(a.url, "POST", `/api/chat/rooms/${roomId}/messages`, {
            token: watcher.token,
            body: { content: text }
          }),
          201
        )

        const closedA = await closedWithin(onA, 10_000)
        expect(closedA.code).toBe(CloseCode.sessionRevoked)
        expect(onA.messages(roomId).map((e) => e.payload.text)).not.toContain(text)
        const elapsed = [`node A ${Math.round((await closes.a).at - started)} ms`]
        if (onB !== null && closes.b !== null) {
          expect((await closedWithin(onB, 10_000)).code).toBe(CloseCode.sessionRevoked)
          elapsed.push(`node B ${Math.round((await closes.b).at - started)} ms`)
        }
        console.info(
          `[revocation ${backend.name}] ${trigger.name}: socket closed (4003) ${elapsed.join(", ")} after the request`
        )

        // Nobody else is cut off: they get the message sent after the revocation.
        await bystander.next((e) => e.type === "chat.message" && e.payload.text === text)
        await barrier(bystander)
        if (trigger.scope === "user") {
          expect((await closedWithin(siblingSock, 10_000)).code).toBe(CloseCode.sessionRevoked)
        } else {
          await siblingSock.next((e) => e.type === "chat.message" && e.payload.text === text)
          await barrier(siblingSock)
          expect((await request(b.url, "GET", "/api/me", { token: sibling.token })).status).toBe(200)
        }

        // The old access token and the refresh token are dead on every node, sockets included.
        for (const node of [a, b]) {
          expect((await request(node.url, "GET", "/api/me", { token: victim.token })).status).toBe(401)
          const upgrade = await connect(node.url, { token: victim.token }).then(
            (sock) => {
              sock.close()
              return 101
            },
            (error) => error.status
          )
          expect(upgrade).toBe(401)
        }
        const refresh = await request(b.url, "POST", "/api/refresh", { body: { refresh_token: victim.refreshToken } })
        expect(refresh.status).toBe(401)
        if (trigger.scope === "user") {
          expect((await request(a.url, "GET", "/api/me", { token: sibling.token })).status).toBe(401)
        }
      })
    }
  })
