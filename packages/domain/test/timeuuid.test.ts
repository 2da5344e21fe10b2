import { describe, expect, it } from "vitest"
import { compareTimeUuid, makeTimeUuidClock, timeUuidFrom, timeUuidMicros, timeUuidMs } from "../src/timeuuid.ts"

describe("TIMEUUIDs", () => {
  it("carry their millisecond and microsecond", () => {
    const id = timeUuidFrom(1_795_000_000_123, 4567)
    expect(timeUuidMs(id)).toBe(1_795_000_000_123)
    expect(timeUuidMicros(id)).toBe(1_795_000_000_123_456)
  })

  it("a clock never goes back, even when the wall clock does or another writer was ahead", () => {
    const clock = makeTimeUuidClock()
    const first = clock.next(2000)
    const second = clock.next(1000)
    expect(compareTimeUuid(first, second)).toBe(-1)
    expect(timeUuidMicros(second)).toBeGreaterThan(timeUuidMicros(first))
    const elsewhere = timeUuidFrom(5000, 0)
    clock.advancePast(elsewhere)
    const third = clock.next(1000)
    expect(compareTimeUuid(elsewhere, third)).toBe(-1)
    expect(timeUuidMicros(third)).toBeGreaterThanOrEqual(timeUuidMicros(elsewhere))
  })
})
