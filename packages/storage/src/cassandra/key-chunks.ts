/**
 * A room's retry keys (user, client id) as this process knows them since its claim, where a
 * retried send finds its original (`cql/015_keys_in_rows.cql`): the message rows hold their keys,
 * and each run of `chunkRows` consecutive rows of a partition (a chunk) is summed up, once full,
 * by a 32-bit print of each key, kept in its partition's static `key_chunks` with the chunk's
 * first and last ids. A key's print says which chunks may hold it; only those are read.
 *
 * `RoomKeys` is one claim's view: the closed chunks of every partition, a Bloom filter over all
 * their prints (most keys are new and stop there), and the live partition's open chunk (its rows
 * since its last closed chunk, each key with its message id, read at the claim and added by every
 * append before it is sent).
 */
import { hash32, Keys } from "./client-id-filter.ts"

/** Rows per chunk: a print read past a false positive costs a range read of at most this many rows. */
export const chunkRows = 1024

/** A key's 32-bit print, stable across processes and versions (it is stored). */
export const keyPrint = (userId: string, clientMsgId: string) =>
  // Never 0: the open chunk marks a row without a key so.
  hash32(`${userId}/${clientMsgId}`, 0x9747b28c) || 1

/** The Bloom filter's second hash, derived from the print (all a closed chunk keeps of a key). */
const secondHash = (print: number) => (Math.imul(print ^ (print >>> 15), 0x2c1b3c6d) >>> 0) | 1

export interface Chunk {
  /** The partition holding the chunk's rows. */
  readonly bucket: number
  readonly firstSeq: number
  readonly lastSeq: number
  readonly firstId: string
  readonly lastId: string
  /** The prints of its rows' keys, ascending. */
  readonly prints: Uint32Array
}

const formatVersion = 1
const headerBytes = 1 + 8 + 16 + 16 + 4

/** Writes a uuid's 16 bytes at `offset` of `into`. */
const writeUuid = (id: string, into: Buffer, offset: number) => into.write(id.replaceAll("-", ""), offset, 16, "hex")
const uuidText = (bytes: Buffer) => {
  const hex = bytes.toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** A chunk as its `key_chunks` value (its partition and first seq are the cell's place). */
export const encodeChunk = (chunk: Chunk): Buffer => {
  const out = Buffer.allocUnsafe(headerBytes + chunk.prints.length * 4)
  out.writeUInt8(formatVersion, 0)
  out.writeDoubleBE(chunk.lastSeq, 1)
  writeUuid(chunk.firstId, out, 9)
  writeUuid(chunk.lastId, out, 25)
  out.writeUInt32BE(chunk.prints.length, 41)
  for (let i = 0; i < chunk.prints.length; i++) out.writeUInt32BE(chunk.prints[i]!, headerBytes + i * 4)
  return out
}

/** A stored chunk; an error for a value this version cannot read (written by a newer one). */
export const decodeChunk = (bucket: number, firstSeq: number, value: Buffer): Chunk => {
  if (value.length < headerBytes || value.readUInt8(0) !== formatVersion) {
    throw new Error(`key chunk ${firstSeq} of partition ${bucket}: unknown format`)
  }
  const count = value.readUInt32BE(41)
  if (value.length !== headerBytes + count * 4)
    throw new Error(`key chunk ${firstSeq} of partition ${bucket}: truncated`)
  const prints = new Uint32Array(count)
  for (let i = 0; i < count; i++) prints[i] = value.readUInt32BE(headerBytes + i * 4)
  return {
    bucket,
    firstSeq,
    lastSeq: value.readDoubleBE(1),
    firstId: uuidText(value.subarray(9, 25)),
    lastId: uuidText(value.subarray(25, 41)),
    prints
  }
}

/**
 * The last of a partition's closed chunks (sorted by first seq) that, from the partition's first
 * row (`base + 1`), leave no row out: the open chunk starts after it. A chunk missing in the
 * middle (a write that never landed) would otherwise hide its rows' keys from every claim after;
 * past a hole, the rows are read again, and chunks that overlap are harmless (a key found twice).
 */
export const lastUnbroken = (chunks: ReadonlyArray<Chunk>, base: number): Chunk | undefined => {
  let next = base + 1
  let last: Chunk | undefined
  for (const chunk of chunks) {
    if (chunk.firstSeq > next) break
    if (chunk.lastSeq + 1 > next) {
      next = chunk.lastSeq + 1
      last = chunk
    }
  }
  return last
}

const holds = (prints: Uint32Array, print: number) => {
  let lo = 0
  let hi = prints.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const at = prints[mid]!
    if (at === print) return true
    if (at < print) lo = mid + 1
    else hi = mid - 1
  }
  return false
}

export interface Key {
  readonly userId: string
  readonly clientMsgId: string
}

/** Where a key may be: a row of the open chunk (by id), or somewhere in closed chunks. */
export interface Located<K> {
  readonly rows: ReadonlyArray<{ readonly key: K; readonly bucket: number; readonly id: string }>
  readonly ranges: ReadonlyArray<{ readonly key: K; readonly chunk: Chunk }>
}

/** What the open chunk keeps of a row (a `MessageRecord` is one). */
interface Row {
  readonly seq: number
  readonly id: string
  readonly userId: string
  readonly clientMsgId: string | null
}

/**
 * The live partition's rows since its last chunk, compactly (a busy room keeps up to `chunkRows`
 * of them, a partition stored before 015 all of its rows until its next commit): each row's print
 * (0 without a key), seq and id; a key is found by its print, then checked against its row.
 */
class OpenChunk {
  readonly bucket: number
  private prints = new Uint32Array(64)
  private seqs = new Float64Array(64)
  private ids = Buffer.alloc(64 * 16)
  size = 0
  constructor(bucket: number) {
    this.bucket = bucket
  }
  add(m: Row) {
    if (this.size === this.prints.length) {
      const grow = <A extends Uint32Array | Float64Array>(a: A, make: (n: number) => A) => {
        const b = make(a.length * 2)
        b.set(a)
        return b
      }
      this.prints = grow(this.prints, (n) => new Uint32Array(n))
      this.seqs = grow(this.seqs, (n) => new Float64Array(n))
      const ids = Buffer.alloc(this.ids.length * 2)
      this.ids.copy(ids)
      this.ids = ids
    }
    this.prints[this.size] = m.clientMsgId === null ? 0 : keyPrint(m.userId, m.clientMsgId)
    this.seqs[this.size] = m.seq
    writeUuid(m.id, this.ids, this.size * 16)
    this.size++
  }
  idAt(i: number) {
    return uuidText(this.ids.subarray(i * 16, i * 16 + 16))
  }
  /** Ids of the rows whose print is `print` (each read and checked: a print may be shared). */
  idsOf(print: number) {
    const ids: Array<string> = []
    for (let i = 0; i < this.size; i++) if (this.prints[i] === print) ids.push(this.idAt(i))
    return ids
  }
  /** Rows `from` to `to` (exclusive) as a closed chunk. */
  slice(from: number, to: number): Chunk {
    const prints = this.prints
      .subarray(from, to)
      .filter((p) => p !== 0)
      .sort()
    return {
      bucket: this.bucket,
      firstSeq: this.seqs[from]!,
      lastSeq: this.seqs[to - 1]!,
      firstId: this.idAt(from),
      lastId: this.idAt(to - 1),
      prints
    }
  }
}

export class RoomKeys {
  private readonly closed: Array<Chunk> = []
  /** Every closed chunk's prints, so that a new key, nearly every key, is ruled out at once. */
  private readonly prints = new Keys()
  private open: OpenChunk | undefined

  /** A closed chunk, read at the claim or closed here. */
  addClosed(chunk: Chunk) {
    this.closed.push(chunk)
    for (const print of chunk.prints) this.prints.addHashes(print, secondHash(print))
  }

  /** Rows stored (or about to be) in `bucket`, the live partition; its open chunk's rows, in seq order. */
  addRows(bucket: number, rows: ReadonlyArray<Row>) {
    if (this.open !== undefined && this.open.bucket !== bucket && this.open.size > 0) {
      throw new Error(`rows for partition ${bucket} while partition ${this.open.bucket}'s chunk is open`)
    }
    if (this.open?.bucket !== bucket) this.open = new OpenChunk(bucket)
    for (const m of rows) this.open.add(m)
  }

  /**
   * The open chunk closed, to be stored by the write that follows; none if empty. One chunk, or
   * after an upgrade (a claim read a partition's whole length) as many as hold `chunkRows` rows
   * each or a little more, so that a retry never reads more than about twice that.
   */
  close(): ReadonlyArray<Chunk> {
    const open = this.open
    if (open === undefined || open.size === 0) return []
    const pieces = Math.max(1, Math.floor(open.size / chunkRows))
    const rows = Math.ceil(open.size / pieces)
    const chunks: Array<Chunk> = []
    for (let from = 0; from < open.size; from += rows) chunks.push(open.slice(from, Math.min(open.size, from + rows)))
    this.open = new OpenChunk(open.bucket)
    for (const chunk of chunks) this.addClosed(chunk)
    return chunks
  }

  /** `close` once the open chunk holds `chunkRows` rows or more. */
  closeIfFull(): ReadonlyArray<Chunk> {
    return (this.open?.size ?? 0) >= chunkRows ? this.close() : []
  }

  /** Where each key may be stored; a key in neither list was stored by no one. */
  locate<K extends Key>(keys: ReadonlyArray<K>): Located<K> {
    const rows: Array<{ key: K; bucket: number; id: string }> = []
    const ranges: Array<{ key: K; chunk: Chunk }> = []
    for (const key of keys) {
      const print = keyPrint(key.userId, key.clientMsgId)
      if (this.open !== undefined)
        for (const id of this.open.idsOf(print)) rows.push({ key, bucket: this.open.bucket, id })
      if (!this.prints.hasHashes(print, secondHash(print))) continue
      for (const chunk of this.closed) if (holds(chunk.prints, print)) ranges.push({ key, chunk })
    }
    return { rows, ranges }
  }
}
