import { assert, describe, type Vitest } from "@effect/vitest"
import { type MessageId, makeTimeUuidClock, type RoomId, type UserId } from "@parley/domain"
import { Effect } from "effect"
import {
  type MessageRecord,
  MessageSearch,
  Messages,
  matchesAll,
  plainMessage,
  queryTerms,
  type SearchQuery
} from "../src/index.ts"
import { appendAsOwner } from "./append-as-owner.ts"
import { newRoom, newUserId, unique } from "./fixtures.ts"

const day = 86_400_000

/** Words no other test (nor an earlier run) writes, so each test sees only its own hits. */
const word = (prefix: string) => unique(prefix).replaceAll("-", "")

/** A room's stream built entry by entry: seq and ids run on, each at the time given. */
const stream = (roomId: RoomId) => {
  const clock = makeTimeUuidClock()
  const author = newUserId()
  let seq = 0
  const entry = (at: number, fields: Partial<MessageRecord>): MessageRecord => ({
    roomId,
    id: clock.next(at) as MessageId,
    seq: ++seq,
    ...plainMessage,
    userId: author,
    username: "author",
    text: "",
    clientMsgId: null,
    createdAt: at,
    ...fields
  })
  return {
    author,
    message: (at: number, text: string) => entry(at, { text }),
    edit: (at: number, target: MessageRecord, text: string) => entry(at, { kind: "edit", targetId: target.id, text }),
    remove: (at: number, target: MessageRecord, by: UserId) =>
      entry(at, { kind: "delete", targetId: target.id, userId: by, text: "" })
  }
}

const search = (query: Omit<SearchQuery, "terms"> & { readonly q: string }) =>
  Effect.flatMap(MessageSearch, (s) => s.search({ ...query, terms: queryTerms(query.q) }))

const ids = (records: ReadonlyArray<MessageRecord>) => records.map((m) => m.id)

export const searchConformance = (it: Vitest.MethodsNonLive<Messages | MessageSearch>) =>
  describe("message search", () => {
    it.effect("every word must match, whatever its case and diacritics", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const [w1, w2] = [word("cafe"), word("lait")]
        const s = stream(roomId)
        const now = Date.now()
        const both = s.message(now, `Un ${w1.toUpperCase()} au ${w2}, s'il vous plaît`)
        const first = s.message(now + 1, `${w1} noir`)
        const second = s.message(now + 2, `du ${w2}…`)
        const accented = s.message(now + 3, `Crème brûlée ${w1}`)
        yield* appendAsOwner(messages, roomId, [both, first, second, accented])
        const rooms = [roomId]
        assert.deepStrictEqual(
          ids(yield* search({ rooms, q: w1, before: null, limit: 10 })),
          ids([accented, first, both])
        )
        assert.deepStrictEqual(ids(yield* search({ rooms, q: `${w2} ${w1}`, before: null, limit: 10 })), ids([both]))
        assert.deepStrictEqual(yield* search({ rooms, q: `CREME BRULEE ${w1}`, before: null, limit: 10 }), [accented])
        assert.deepStrictEqual(ids(yield* search({ rooms, q: `brûlée ${w2}`, before: null, limit: 10 })), [])
        assert.deepStrictEqual(ids(yield* search({ rooms, q: word("absent"), before: null, limit: 10 })), [])
        // Whole words only: a prefix is not a word of the message.
        assert.deepStrictEqual(ids(yield* search({ rooms, q: w1.slice(0, -2), before: null, limit: 10 })), [])
      })
    )

    it.effect("newest first, paged with the last result as cursor, over days of history", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const w = word("page")
        const s = stream(roomId)
        const start = Date.now() - 30 * day
        // Matches spread over weeks (several index periods, empty ones between), others between them.
        const offsets = [0, 0.1, 1, 1.5, 2, 9, 9.01, 20, 29.5, 29.9]
        const all = offsets.flatMap((d, i) => [
          s.message(start + d * day, `hit ${i} ${w}`),
          s.message(start + d * day + 10, `miss ${i}`)
        ])
        for (let i = 0; i < all.length; i += 5) yield* appendAsOwner(messages, roomId, all.slice(i, i + 5))
        const hits = all.filter((m) => m.text.includes(w)).reverse()
        for (const limit of [3, 1, 100]) {
          const pages: Array<ReadonlyArray<MessageRecord>> = []
          let before: MessageId | null = null
          for (let n = 0; n < 20; n++) {
            const page: ReadonlyArray<MessageRecord> = yield* search({ rooms: [roomId], q: w, before, limit })
            pages.push(page)
            if (page.length < limit) break
            before = page.at(-1)!.id
          }
          assert.deepStrictEqual(ids(pages.flat()), ids(hits))
          assert.isTrue(pages.slice(0, -1).every((p) => p.length === limit))
        }
        // A cursor between hits: strictly older than it.
        const cursor = all[9]!.id
        assert.deepStrictEqual(
          ids(yield* search({ rooms: [roomId], q: w, before: cursor, limit: 100 })),
          ids(hits.filter((m) => m.seq < all[9]!.seq))
        )
      })
    )

    it.effect("pages through the matches of one large group commit, cursors falling inside it", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const w = word("bulk")
        const s = stream(roomId)
        const now = Date.now() - day
        // More rows than Cassandra indexes together (`cql/013_search_per_batch.cql`), one append.
        const all = Array.from({ length: 150 }, (_, i) => s.message(now + i, i % 3 === 1 ? `other ${i}` : `${w} ${i}`))
        yield* appendAsOwner(messages, roomId, all)
        const later = [s.message(now + 200, `${w} later`), s.message(now + 201, "not this one")]
        yield* appendAsOwner(messages, roomId, later)
        const hits = [...all, ...later].filter((m) => m.text.startsWith(w)).reverse()
        for (const limit of [7, 1, 40, 200]) {
          const found: Array<MessageRecord> = []
          let before: MessageId | null = null
          for (let n = 0; n < 200; n++) {
            const page: ReadonlyArray<MessageRecord> = yield* search({ rooms: [roomId], q: w, before, limit })
            found.push(...page)
            if (page.length < limit) break
            before = page.at(-1)!.id
          }
          assert.deepStrictEqual(ids(found), ids(hits), `pages of ${limit}`)
        }
        // A cursor on a message that does not match, inside the commit.
        assert.deepStrictEqual(
          ids(yield* search({ rooms: [roomId], q: w, before: all[100]!.id, limit: 5 })),
          ids(hits.filter((m) => m.seq < all[100]!.seq).slice(0, 5))
        )
      })
    )

    it.effect("many group commits found in one read: results newest first, pages cut anywhere", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const [a, b] = [word("wave"), word("crest")]
        const s = stream(roomId)
        const now = Date.now() - day
        // 20 group commits close together: on Cassandra, 20 chunks of one partition that the index
        // finds by either word and by both (read several at once, `message-pages.ts`), while
        // only every third commit has a message holding both.
        const commits = Array.from({ length: 20 }, (_, c) => [
          s.message(now + c * 10, c % 3 === 0 ? `${a} and ${b} ${c}` : `${a} ${c}`),
          s.message(now + c * 10 + 1, `${b} ${c}`),
          s.message(now + c * 10 + 2, `${a} again ${c}`)
        ])
        for (const commit of commits) yield* appendAsOwner(messages, roomId, commit)
        for (const q of [a, `${a} ${b}`]) {
          const hits = commits
            .flat()
            .filter((m) => matchesAll(m.text, queryTerms(q)))
            .reverse()
          for (const limit of [1, 4, 7, 100]) {
            const found: Array<MessageRecord> = []
            let before: MessageId | null = null
            for (let n = 0; n < 100; n++) {
              const page: ReadonlyArray<MessageRecord> = yield* search({ rooms: [roomId], q, before, limit })
              found.push(...page)
              if (page.length < limit) break
              before = page.at(-1)!.id
            }
            assert.deepStrictEqual(ids(found), ids(hits), `"${q}", pages of ${limit}`)
          }
        }
      })
    )

    it.effect("a message edited inside a group commit is found once, in its place", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const w = word("once")
        const s = stream(roomId)
        const now = Date.now() - day
        const [m1, m2, m3, m4] = [
          s.message(now, `${w} first`),
          s.message(now + 1, "second"),
          s.message(now + 2, "third"),
          s.message(now + 3, "fourth")
        ]
        yield* appendAsOwner(messages, roomId, [m1, m2, m3])
        yield* appendAsOwner(messages, roomId, [m4])
        yield* appendAsOwner(messages, roomId, [
          s.edit(now + 10, m2, `second ${w}`),
          s.edit(now + 11, m3, `third ${w}`),
          s.edit(now + 12, m4, `fourth ${w}`)
        ])
        assert.deepStrictEqual(
          ids(yield* search({ rooms: [roomId], q: w, before: null, limit: 10 })),
          ids([m4, m3, m2, m1])
        )
        assert.deepStrictEqual(ids(yield* search({ rooms: [roomId], q: w, before: m3.id, limit: 10 })), ids([m2, m1]))
        assert.deepStrictEqual(ids(yield* search({ rooms: [roomId], q: "first", before: null, limit: 10 })), ids([m1]))
      })
    )

    it.effect("searches only the rooms given, merged newest first", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const [a, b, c] = [newRoom(newUserId()).id, newRoom(newUserId()).id, newRoom(newUserId()).id]
        const w = word("rooms")
        const now = Date.now() - 5 * day
        const [sa, sb, sc] = [stream(a), stream(b), stream(c)]
        const inA = [sa.message(now, `${w} a1`), sa.message(now + 2 * day, `${w} a2`)]
        const inB = [sb.message(now + day, `${w} b1`), sb.message(now + 3 * day, `${w} b2`)]
        const inC = [sc.message(now + 4 * day, `${w} c1`)]
        yield* appendAsOwner(messages, a, inA)
        yield* appendAsOwner(messages, b, inB)
        yield* appendAsOwner(messages, c, inC)
        assert.deepStrictEqual(ids(yield* search({ rooms: [a], q: w, before: null, limit: 10 })), ids(inA).reverse())
        assert.deepStrictEqual(
          ids(yield* search({ rooms: [a, b], q: w, before: null, limit: 10 })),
          ids([inB[1]!, inA[1]!, inB[0]!, inA[0]!])
        )
        assert.deepStrictEqual(
          ids(yield* search({ rooms: [b, a], q: w, before: inA[1]!.id, limit: 1 })),
          ids([inB[0]!])
        )
        assert.deepStrictEqual(yield* search({ rooms: [], q: w, before: null, limit: 10 }), [])
      })
    )

    it.effect("an edited message is found by its new words only, in its current state; edits themselves never", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const [old, kept, fresh, later] = [word("old"), word("kept"), word("fresh"), word("later")]
        const s = stream(roomId)
        const now = Date.now() - 2 * day
        const original = s.message(now, `${old} ${kept}`)
        yield* appendAsOwner(messages, roomId, [original, s.message(now + 1, "unrelated")])
        // The edit comes days later, in another index period than its message.
        const edit = s.edit(now + 2 * day - 1000, original, `${fresh} ${kept}`)
        yield* appendAsOwner(messages, roomId, [edit])
        const rooms = [roomId]
        assert.deepStrictEqual(yield* search({ rooms, q: old, before: null, limit: 10 }), [])
        const found = yield* search({ rooms, q: fresh, before: null, limit: 10 })
        assert.deepStrictEqual(ids(found), [original.id])
        assert.strictEqual(found[0]!.kind, "message")
        assert.strictEqual(found[0]!.text, `${fresh} ${kept}`)
        assert.isNotNull(found[0]!.editedAt)
        assert.deepStrictEqual(ids(yield* search({ rooms, q: kept, before: null, limit: 10 })), [original.id])
        // Edited again: the second text wins, the first edit's words are gone too.
        yield* appendAsOwner(messages, roomId, [s.edit(now + 2 * day, original, later)])
        assert.deepStrictEqual(yield* search({ rooms, q: fresh, before: null, limit: 10 }), [])
        assert.deepStrictEqual(ids(yield* search({ rooms, q: later, before: null, limit: 10 })), [original.id])
      })
    )

    it.effect("a deleted message is never found, edited or not", () =>
      Effect.gen(function* () {
        const messages = yield* Messages
        const roomId = newRoom(newUserId()).id
        const w = word("gone")
        const s = stream(roomId)
        const now = Date.now() - day
        const plain = s.message(now, `${w} plain`)
        const edited = s.message(now + 1, `before ${w}`)
        const survivor = s.message(now + 2, `${w} stays`)
        yield* appendAsOwner(messages, roomId, [plain, edited, survivor, s.edit(now + 3, edited, `after ${w}`)])
        assert.deepStrictEqual(
          ids(yield* search({ rooms: [roomId], q: w, before: null, limit: 10 })),
          ids([survivor, edited, plain])
        )
        const moderator = newUserId()
        yield* appendAsOwner(messages, roomId, [
          s.remove(now + 4, plain, moderator),
          s.remove(now + 5, edited, s.author)
        ])
        assert.deepStrictEqual(ids(yield* search({ rooms: [roomId], q: w, before: null, limit: 10 })), [survivor.id])
        assert.deepStrictEqual(yield* search({ rooms: [roomId], q: "after", before: null, limit: 10 }), [])
      })
    )
  })
