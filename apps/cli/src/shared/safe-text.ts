/**
 * Text from the server is written to a terminal, so it must never carry terminal commands.
 * Anyone can pick a username, a room name or a message: an ESC (`\x1b[2J` clears the screen,
 * OSC 52 writes the clipboard), a C1 control (`\x9b` is a one-byte CSI on some terminals), or a
 * bidi override (U+202E turns `exe.txt` into what looks like `txt.exe`) would act on the
 * reader's terminal instead of being read. Every server string passes through one of these
 * functions before it is displayed; unsafe characters come out as visible escapes
 * (`\x1b`, `\u202e`), so the reader sees that they were there.
 *
 * Unsafe: Unicode Cc (C0 controls, DEL, C1 controls), Cf (bidi controls, zero-width
 * characters, tag characters) and the line/paragraph separators U+2028/U+2029.
 */

const unsafe = /[\p{Cc}\p{Cf}\u2028\u2029]/gu

/** `\x1b` for the one-byte range, `\u202e` above it, `\u{e0001}` beyond the BMP. */
export const escapeChar = (char: string): string => {
  const code = char.codePointAt(0) ?? 0
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, "0")}`
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, "0")}`
  return `\\u{${code.toString(16)}}`
}

/** True when `text` holds a character that `safeText` would escape. */
export const hasUnsafeChars = (text: string): boolean => /[\p{Cc}\p{Cf}\u2028\u2029]/u.test(text)

/** For one-line fields (usernames, room names, table cells): every unsafe character escaped. */
export const safeText = (text: string): string => text.replace(unsafe, escapeChar)

/** Columns between tab stops when a message's tabs are expanded. */
export const tabWidth = 8

/**
 * For message text: newlines are kept (CRLF read as one newline) and tabs expanded to the next
 * tab stop, because people paste code and lists; everything else unsafe is escaped.
 */
export const safeMultiline = (text: string): string =>
  text
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((line) => expandTabs(line).replace(unsafe, escapeChar))
    .join("\n")

const expandTabs = (line: string): string => {
  if (!line.includes("\t")) return line
  let out = ""
  let column = 0
  for (const char of line) {
    if (char === "\t") {
      const spaces = tabWidth - (column % tabWidth)
      out += " ".repeat(spaces)
      column += spaces
    } else {
      out += char
      column++
    }
  }
  return out
}

const unsafeInJson = /(?!\n)[\p{Cc}\p{Cf}\u2028\u2029]/gu

/**
 * JSON for a terminal (`--json` output): `JSON.stringify` escapes C0 controls but leaves DEL,
 * C1 controls and bidi overrides raw. Those can only occur inside JSON strings, where a
 * `\uXXXX` escape is valid JSON for the same character, so parsers read the same document.
 * Newlines are left alone: outside strings they are the indentation's, inside strings
 * `JSON.stringify` has already escaped them.
 */
export const safeJson = (value: unknown, indent = 2): string =>
  (JSON.stringify(value, null, indent) ?? "null").replace(unsafeInJson, (char) => {
    const code = char.codePointAt(0) ?? 0
    if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, "0")}`
    // Astral Cf characters (tag characters) as a UTF-16 surrogate pair of escapes.
    return char
      .split("")
      .map((unit) => `\\u${unit.charCodeAt(0).toString(16)}`)
      .join("")
  })
