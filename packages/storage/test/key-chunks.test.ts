/** Where a claim's open chunk starts, from a partition's closed chunks (`cassandra/key-chunks.ts`). */
import { assert, describe, it } from "@effect/vitest"
import { type Chunk, lastUnbroken } from "../src/cassandra/key-chunks.ts"

const chunk = (firstSeq: number, lastSeq: number): Chunk => ({
  bucket: 0,
  firstSeq,
  lastSeq,
  firstId: "",
  lastId: "",
  prints: new Uint32Array()
})
const end = (chunks: ReadonlyArray<Chunk>, base: number) => lastUnbroken(chunks, base)?.lastSeq ?? null

describe("the end of a partition's unbroken run of chunks", () => {
  it("runs to the last chunk when none is missing", () => {
    assert.strictEqual(end([chunk(1, 1050), chunk(1051, 2100)], 0), 2100)
    assert.strictEqual(end([chunk(31, 1100)], 30), 1100)
  })
  it("stops before a hole, in the middle or before the first chunk", () => {
    assert.strictEqual(end([chunk(1, 1050), chunk(2101, 3150)], 0), 1050)
    assert.strictEqual(end([chunk(1051, 2100)], 0), null)
    assert.strictEqual(end([], 0), null)
  })
  it("goes on through chunks that overlap (rows read again after a hole, closed anew)", () => {
    assert.strictEqual(end([chunk(1, 1050), chunk(1051, 2200), chunk(2101, 3150), chunk(2201, 3300)], 0), 3300)
    assert.strictEqual(end([chunk(1, 3000), chunk(1051, 2100)], 0), 3000)
  })
})
