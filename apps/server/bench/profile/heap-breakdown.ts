/**
 * Where the bytes of N idle sockets go: two heap snapshots of the same server (before the
 * sockets, with them) compared by class (self sizes), and each byte charged to the nearest
 * "owner" above it in the dominator tree (a WebSocket, a net.Socket, an Effect fiber…).
 *
 *   node heap-breakdown.ts <base.heapsnapshot> <loaded.heapsnapshot> <N> [owner,owner,…] [scripts.json]
 */
import { readFileSync } from "node:fs"
import { dominators, readSnapshot, type Snapshot } from "./heap-snapshot.ts"

export const defaultOwners = [
  "WebSocket",
  "Receiver",
  "Sender",
  "Socket",
  "IncomingMessage",
  "ServerResponse",
  "TCP",
  "FiberImpl",
  "Scope",
  "ScopeImpl",
  "QueueImpl",
  "Map",
  "Set",
  "Array",
  "Object"
]

interface Tables {
  readonly byClass: Map<string, { count: number; bytes: number }>
  /** Finer keys: closures by where they were written, contexts by the variables they hold, the rest by first retainer. */
  readonly byDetail: Map<string, { count: number; bytes: number }>
  readonly byCategory: Map<string, { count: number; bytes: number }>
  readonly byOwner: Map<string, number>
  readonly total: number
}

/** A script URL shortened to what names it: the path inside the repo or the package. */
const shortScript = (url: string) =>
  url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, "")
    .replace(/^.*\/(apps|packages)\//, "$1/")

const detailKeys = (s: Snapshot, scripts: Record<string, string>) => {
  const weak = s.edgeTypes.indexOf("weak")
  const contextEdge = s.edgeTypes.indexOf("context")
  const retainer = new Int32Array(s.nodeCount).fill(-1)
  const retainerEdge = new Int32Array(s.nodeCount).fill(-1)
  for (let node = 0; node < s.nodeCount; node++) {
    for (let e = s.firstEdge[node]!; e < s.firstEdge[node + 1]!; e++) {
      if (s.edges[e * s.edgeFieldCount]! === weak) continue
      const to = s.edges[e * s.edgeFieldCount + 2]! / s.nodeFieldCount
      if (retainer[to] === -1) {
        retainer[to] = node
        retainerEdge[to] = e
      }
    }
  }
  const edgeName = (e: number) => {
    const type = s.edgeTypes[s.edges[e * s.edgeFieldCount]!]!
    const nameOrIndex = s.edges[e * s.edgeFieldCount + 1]!
    return type === "element" || type === "hidden" ? "[]" : s.strings[nameOrIndex]!
  }
  const closureWhere = (node: number) => {
    const at = s.locationOf(node)
    return at === undefined ? "?" : `${shortScript(scripts[String(at.scriptId)] ?? String(at.scriptId))}:${at.line + 1}`
  }
  /**
   * The part of the system a node belongs to: by its own class or source when that says it,
   * otherwise the part its first retainer belongs to (an array of a Map is the Map's).
   */
  const category = new Array<string | undefined>(s.nodeCount)
  const ownCategory = (node: number): string | undefined => {
    const cls = s.classOf(node)
    const type = s.typeOf(node)
    if (type === "closure") {
      const where = closureWhere(node)
      if (where.startsWith("effect/")) return "Effect runtime: fibers, queue, effects and fns built per connection"
      if (where.startsWith("apps/") || where.startsWith("packages/")) return "Parley closures and their contexts"
      if (where.startsWith("ws/")) return "ws: WebSocket, Receiver, Sender"
      return undefined
    }
    if (cls === "(string)") {
      const r = retainer[node]!
      // Script sources the enabled debugger holds: there because of the measurement, not the sockets.
      if (r >= 0 && edgeName(retainerEdge[node]!).includes("DevTools debugger"))
        return "(debugger: script sources, measurement noise)"
      return "strings (ids, token, user fields)"
    }
    if (["WebSocket", "Receiver", "Sender"].includes(cls)) return "ws: WebSocket, Receiver, Sender"
    if (["Socket", "TCP", "Node / TCPSocketWrap"].includes(cls)) return "net.Socket + TCP handle"
    if (["IncomingMessage", "HTTPParser", "ServerResponse"].includes(cls)) return "HTTP upgrade request"
    if (["Timeout", "TimersList"].includes(cls)) return "Node timers"
    if (
      /^(Fiber|Cont|Primitive|OnFailure|OnSuccess|MixedScheduler|Queue|Scope|Deferred|Exit|Effect)\w*(Impl)?$/.test(cls)
    )
      return "Effect runtime: fibers, queue, effects and fns built per connection"
    if (cls === "Map" || cls === "Set") return "Maps and Sets"
    return undefined
  }
  const categoryOf = (node: number): string => {
    const path: Array<number> = []
    let current = node
    let found = "other"
    for (let hops = 0; hops < 50; hops++) {
      const known = category[current]
      if (known !== undefined) {
        found = known
        break
      }
      path.push(current)
      const own = ownCategory(current)
      if (own !== undefined) {
        found = own
        break
      }
      const r = retainer[current]!
      if (r < 0) break
      current = r
    }
    for (const p of path) category[p] = found
    return found
  }
  const detailOf = (node: number) => {
    const cls = s.classOf(node)
    if (s.typeOf(node) === "closure") {
      return `${cls} @ ${closureWhere(node)}`
    }
    if (cls === "system / Context") {
      const names: Array<string> = []
      for (let e = s.firstEdge[node]!; e < s.firstEdge[node + 1]!; e++) {
        if (s.edges[e * s.edgeFieldCount]! === contextEdge) names.push(s.strings[s.edges[e * s.edgeFieldCount + 1]!]!)
      }
      return `Context {${names.slice(0, 6).join(",")}${names.length > 6 ? ",…" : ""}}`
    }
    const r = retainer[node]!
    // Handle numbers differ between snapshots: without them the same retainer matches across the two.
    return r < 0
      ? `${cls} ← ?`
      : `${cls} ← ${s.classOf(r)}.${edgeName(retainerEdge[node]!).replace(/^\d+ \/ /, "# / ")}`
  }
  return { detailOf, categoryOf }
}

const tables = (s: Snapshot, owners: ReadonlySet<string>, scripts: Record<string, string>): Tables => {
  const { idom, reachable } = dominators(s)
  const { detailOf, categoryOf } = detailKeys(s, scripts)
  const byDetail = new Map<string, { count: number; bytes: number }>()
  const byCategory = new Map<string, { count: number; bytes: number }>()
  const byClass = new Map<string, { count: number; bytes: number }>()
  let total = 0
  const ownerOf = new Int32Array(s.nodeCount).fill(-2) // -2: not computed, -1: none
  const findOwner = (node: number): number => {
    const path: Array<number> = []
    let current = node
    let owner = -1
    for (;;) {
      const known = ownerOf[current]!
      if (known !== -2) {
        owner = known
        break
      }
      path.push(current)
      if (current !== node && owners.has(s.classOf(current))) {
        owner = current
        break
      }
      if (current === 0) break
      current = idom[current]!
    }
    // Nodes on the path below the owner are owned by it; the owner itself by its own owner.
    for (const p of path) if (p !== owner) ownerOf[p] = owner
    return owner
  }
  const byOwner = new Map<string, number>()
  for (let node = 0; node < s.nodeCount; node++) {
    if (!reachable[node]) continue
    const size = s.selfSize(node)
    total += size
    const cls = s.classOf(node)
    const entry = byClass.get(cls) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += size
    byClass.set(cls, entry)
    const detail = detailOf(node)
    const d = byDetail.get(detail) ?? { count: 0, bytes: 0 }
    d.count++
    d.bytes += size
    byDetail.set(detail, d)
    const c = categoryOf(node)
    const ce = byCategory.get(c) ?? { count: 0, bytes: 0 }
    ce.count++
    ce.bytes += size
    byCategory.set(c, ce)
    // An owner object's own bytes count under its own name.
    const owner = owners.has(cls) ? node : findOwner(node)
    const key = owner < 0 ? "(no owner)" : s.classOf(owner)
    byOwner.set(key, (byOwner.get(key) ?? 0) + size)
  }
  return { byClass, byDetail, byCategory, byOwner, total }
}

const perSocket = (
  loaded: Map<string, { count: number; bytes: number }>,
  base: Map<string, { count: number; bytes: number }>,
  n: number
) =>
  [...loaded.entries()]
    .map(([key, l]) => {
      const b = base.get(key) ?? { count: 0, bytes: 0 }
      return { key, perSocketBytes: (l.bytes - b.bytes) / n, perSocketCount: (l.count - b.count) / n }
    })
    .filter((r) => Math.abs(r.perSocketBytes) >= 8)
    .sort((a, b) => b.perSocketBytes - a.perSocketBytes)

export const compare = (
  basePath: string,
  loadedPath: string,
  n: number,
  owners: ReadonlyArray<string>,
  scripts: Record<string, string> = {}
) => {
  const set = new Set(owners)
  const base = tables(readSnapshot(basePath), set, scripts)
  const loaded = tables(readSnapshot(loadedPath), set, scripts)
  const classRows = perSocket(loaded.byClass, base.byClass, n)
  const detailRows = perSocket(loaded.byDetail, base.byDetail, n)
  const categoryRows = perSocket(loaded.byCategory, base.byCategory, n)
  const ownerRows = [...new Set([...loaded.byOwner.keys(), ...base.byOwner.keys()])]
    .map((owner) => ({
      owner,
      perSocketBytes: ((loaded.byOwner.get(owner) ?? 0) - (base.byOwner.get(owner) ?? 0)) / n
    }))
    .filter((r) => Math.abs(r.perSocketBytes) >= 8)
    .sort((a, b) => b.perSocketBytes - a.perSocketBytes)
  return { heapPerSocket: (loaded.total - base.total) / n, classRows, detailRows, categoryRows, ownerRows }
}

const cell = (text: string) => text.replace(/\|/g, "\\|")

export const render = (result: ReturnType<typeof compare>, top = 45) => {
  const lines = [
    `heap snapshot delta per socket: ${result.heapPerSocket.toFixed(0)} B`,
    "",
    "| part (by class or source, else its first retainer's part) | bytes/socket | objects/socket |",
    "|---|---:|---:|",
    ...result.categoryRows.map(
      (r) => `| ${cell(r.key)} | ${r.perSocketBytes.toFixed(0)} | ${r.perSocketCount.toFixed(2)} |`
    ),
    "",
    "| class (self size) | bytes/socket | objects/socket |",
    "|---|---:|---:|",
    ...result.classRows
      .slice(0, top)
      .map((r) => `| ${cell(r.key)} | ${r.perSocketBytes.toFixed(0)} | ${r.perSocketCount.toFixed(2)} |`),
    "",
    "| detail: closure @ source, context {variables}, object ← first retainer.edge | bytes/socket | objects/socket |",
    "|---|---:|---:|",
    ...result.detailRows
      .slice(0, top * 2)
      .map((r) => `| ${cell(r.key)} | ${r.perSocketBytes.toFixed(0)} | ${r.perSocketCount.toFixed(2)} |`),
    "",
    "| nearest owner in the dominator tree | bytes/socket |",
    "|---|---:|",
    ...result.ownerRows.map((r) => `| ${r.owner} | ${r.perSocketBytes.toFixed(0)} |`)
  ]
  return lines.join("\n")
}

if (import.meta.main) {
  const [basePath, loadedPath, n, owners, scriptsPath] = process.argv.slice(2)
  if (!basePath || !loadedPath || !n) {
    console.error("usage: heap-breakdown.ts <base.heapsnapshot> <loaded.heapsnapshot> <N> [owner,owner,…]")
    process.exit(2)
  }
  const scripts = scriptsPath ? JSON.parse(readFileSync(scriptsPath, "utf8")) : {}
  console.log(render(compare(basePath, loadedPath, Number(n), owners ? owners.split(",") : defaultOwners, scripts)))
}
