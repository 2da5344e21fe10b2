import { randomBytes } from "node:crypto"

/**
 * Version-1 (time-based) UUIDs, the TIMEUUIDs Cassandra clusters messages by. The 60-bit
 * timestamp counts 100 ns intervals since 1582-10-15; `ticks` (0–9999) orders several ids
 * minted in the same millisecond.
 */
const gregorianOffsetMs = 12_219_292_800_000n
const ticksPerMs = 10_000
/** A writer's ids are at least a microsecond apart, so their write timestamps differ too. */
const ticksPerMicro = 10

export const timeUuidFrom = (ms: number, ticks: number, node: Uint8Array = randomNode()): string => {
  if (ticks < 0 || ticks >= ticksPerMs) throw new RangeError("ticks must be in 0..9999")
  const t = (BigInt(ms) + gregorianOffsetMs) * 10_000n + BigInt(ticks)
  const timeLow = (t & 0xffffffffn).toString(16).padStart(8, "0")
  const timeMid = ((t >> 32n) & 0xffffn).toString(16).padStart(4, "0")
  const timeHi = (((t >> 48n) & 0x0fffn) | 0x1000n).toString(16).padStart(4, "0")
  const clockSeq = (((node[6] ?? 0) & 0x3f) | 0x80).toString(16).padStart(2, "0") + hex(node.subarray(7, 8))
  return `${timeLow}-${timeMid}-${timeHi}-${clockSeq}-${hex(node.subarray(0, 6))}`
}

/** The millisecond a TIMEUUID was minted at. */
export const timeUuidMs = (id: string): number => Number(timeUuidTicks(id) / 10_000n - gregorianOffsetMs)

/**
 * The microsecond a TIMEUUID was minted at: used as a write timestamp, so that what a room's
 * writers store is ordered by message ids, never by the clocks of the nodes writing.
 */
export const timeUuidMicros = (id: string): number => Number(timeUuidTicks(id) / 10n - gregorianOffsetMs * 1000n)

/** Whether `id` is a version-1 UUID. */
export const isTimeUuid = (id: string): boolean =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(id)

/** Compares by timestamp, then by the remaining bits: the order Cassandra sorts TIMEUUIDs in. */
export const compareTimeUuid = (a: string, b: string): number => {
  const ta = timeUuidTicks(a)
  const tb = timeUuidTicks(b)
  if (ta !== tb) return ta < tb ? -1 : 1
  const ra = a.slice(19).toLowerCase()
  const rb = b.slice(19).toLowerCase()
  return ra < rb ? -1 : ra > rb ? 1 : 0
}

const timeUuidTicks = (id: string): bigint => {
  const [low, mid, hi] = id.split("-")
  return (BigInt(`0x${hi!.slice(1)}`) << 48n) | (BigInt(`0x${mid}`) << 32n) | BigInt(`0x${low}`)
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const randomNode = () => {
  const node = randomBytes(8)
  node[0]! |= 0x01 // multicast bit: marks a random node id (RFC 4122 §4.5)
  return node
}

/**
 * Mints strictly increasing TIMEUUIDs for one writer (a room actor): never earlier than the
 * last one issued, even if the wall clock steps back.
 */
export const makeTimeUuidClock = (node: Uint8Array = randomNode()) => {
  let lastMs = 0
  let lastTicks = -1
  return {
    /** Continue after an id already stored (e.g. the room's newest message). */
    advancePast: (id: string) => {
      const ms = timeUuidMs(id)
      const ticks = Number(timeUuidTicks(id) % 10_000n)
      if (ms > lastMs || (ms === lastMs && ticks > lastTicks)) {
        lastMs = ms
        lastTicks = ticks
      }
    },
    next: (nowMs: number): string => {
      if (nowMs > lastMs) {
        lastMs = nowMs
        lastTicks = 0
      } else if (lastTicks + ticksPerMicro < ticksPerMs) {
        lastTicks += ticksPerMicro
      } else {
        lastMs++
        lastTicks = 0
      }
      return timeUuidFrom(lastMs, lastTicks, node)
    }
  }
}
