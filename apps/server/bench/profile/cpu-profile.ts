/**
 * Summarises a V8 `.cpuprofile`: self time by function (name, file, line), by package, and
 * the total time (self + callees) of each function, so the delivery path's costs can be read.
 *
 *   node cpu-profile.ts <file.cpuprofile> [top]
 */
import { readFileSync } from "node:fs"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

export interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, "")
    .replace(/^.*\/(apps|packages)\//, "$1/")

const packageOf = (url: string) => {
  const short = shortUrl(url)
  if (short === "") return "(native/VM)"
  if (short.startsWith("node:")) return "node internals"
  if (short.startsWith("apps/") || short.startsWith("packages/")) return short.split("/").slice(0, 2).join("/")
  return short.split("/")[0]!
}

export const summarise = (profile: CpuProfile, top = 30) => {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + dt)
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0)
  const keyOf = (n: ProfileNode) =>
    `${n.callFrame.functionName || "(anonymous)"} ${shortUrl(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ""}`
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const packages = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!
    const key = keyOf(node)
    self.set(key, (self.get(key) ?? 0) + us)
    const pkg = ["(idle)", "(program)", "(garbage collector)"].includes(node.callFrame.functionName)
      ? node.callFrame.functionName
      : packageOf(node.callFrame.url)
    packages.set(pkg, (packages.get(pkg) ?? 0) + us)
    // Each function on the stack once, however often it recurses.
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf(byId.get(at)!)
      if (seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + us)
    }
  }
  const idleUs = self.get("(idle) ") ?? 0
  const busyUs = totalUs - idleUs
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .filter(([k]) => !k.startsWith("(idle)") && !k.startsWith("(root)"))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ fn: k, ms: us / 1000, pctOfBusy: (100 * us) / busyUs }))
  return {
    wallMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    self: rows(self),
    inclusive: rows(inclusive),
    packages: rows(packages)
  }
}

export const renderSummary = (s: ReturnType<typeof summarise>) => {
  const table = (title: string, rows: ReadonlyArray<{ fn: string; ms: number; pctOfBusy: number }>) => [
    `| ${title} | ms | % of busy |`,
    "|---|---:|---:|",
    ...rows.map((r) => `| ${r.fn.replace(/\|/g, "\\|")} | ${r.ms.toFixed(0)} | ${r.pctOfBusy.toFixed(1)} |`),
    ""
  ]
  return [
    `profile: ${s.wallMs.toFixed(0)} ms sampled, ${s.busyMs.toFixed(0)} ms busy`,
    "",
    ...table("by package (self)", s.packages),
    ...table("function (self time)", s.self),
    ...table("function (total: self + callees)", s.inclusive)
  ].join("\n")
}

if (import.meta.main) {
  const [path, top] = process.argv.slice(2)
  if (!path) {
    console.error("usage: cpu-profile.ts <file.cpuprofile> [top]")
    process.exit(2)
  }
  console.log(renderSummary(summarise(JSON.parse(readFileSync(path, "utf8")), top ? Number(top) : 30)))
}
