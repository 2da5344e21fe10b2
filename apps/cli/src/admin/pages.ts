/** Paged lists (`users list`, `rooms list`): one page, or with `--all` every page joined. */
import { safeText } from "../shared/safe-text.ts"
import { CliError, ExitCode } from "./exit-codes.ts"

/** What every paged admin list answers: its items under one key, and the next page's cursor. */
export interface Page {
  readonly next_cursor: string | null
}

export interface PageOptions {
  readonly cursor?: string
  readonly all?: boolean
}

/**
 * The page at `options.cursor`, or with `--all` every page from there on, as one page with
 * no next cursor. `items` reads a page's list, `joined` builds the one page holding them all.
 */
export const fetchPages = async <P extends Page, A>(
  options: PageOptions,
  page: (cursor: string | undefined) => Promise<P>,
  items: (page: P) => ReadonlyArray<A>,
  joined: (items: ReadonlyArray<A>) => P
): Promise<P> => {
  if (options.all !== true) return page(options.cursor)
  const all: Array<A> = []
  let cursor = options.cursor
  for (;;) {
    const next = await page(cursor)
    all.push(...items(next))
    if (next.next_cursor === null) return joined(all)
    // A server handing back the cursor it was given would keep us here forever.
    if (next.next_cursor === cursor) {
      throw new CliError(ExitCode.failure, `the server answered the cursor ${safeText(cursor)} with itself`)
    }
    cursor = next.next_cursor
  }
}

/** The line under a page that is not the last: how to get the next one. */
export const moreLine = (page: Page) =>
  page.next_cursor === null ? "" : `More: --cursor ${safeText(page.next_cursor)} (or --all)\n`
