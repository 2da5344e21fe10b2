/**
 * A text key that sorts TIMEUUIDs in Cassandra's order, so SQLite pages rooms and messages
 * exactly as a `timeuuid` clustering column does: by the 60-bit timestamp, then by the clock
 * sequence and node compared as signed bytes (hence the `^ 0x80`).
 */
export const timeUuidKey = (id: string): string => {
  const hex = id.replaceAll("-", "").toLowerCase()
  let key = hex.slice(13, 16) + hex.slice(8, 12) + hex.slice(0, 8)
  for (let i = 16; i < 32; i += 2) {
    key += (Number.parseInt(hex.slice(i, i + 2), 16) ^ 0x80).toString(16).padStart(2, "0")
  }
  return key
}
