/**
 * `node apps/server/bench/realtime/render.ts <results.json> [--write]`: the chart (SVG next to
 * the JSON) and the BENCHMARKS.md section again from a results file, without running anything.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { latencyChart } from "./chart.ts"
import { markdownSection, type Results, writeBenchmarks } from "./report.ts"

const file = process.argv[2]
if (file === undefined) throw new Error("usage: render.ts <results.json> [--write]")
const results = JSON.parse(readFileSync(file, "utf8")) as Results
const chart = file.replace(/realtime-[^/]*?(-quick)?\.json$/, "latency-p99$1.svg")
writeFileSync(chart, latencyChart(results))
const section = markdownSection(results, { json: file, chart })
console.log(section)
if (process.argv.includes("--write")) writeBenchmarks(section)
