/**
 * The chart of the realtime bench: p99 send→deliver latency against the offered load (messages
 * per second into a room of 1,000 subscribers), one line per server, as a plain SVG built from
 * the results JSON (no dependency). Log scale on the latency axis: the servers differ by orders
 * of magnitude once one of them saturates.
 */
import type { Results } from "./report.ts"

export const serverNames: Record<string, string> = {
  ws: "raw ws",
  sio: "Socket.IO",
  centrifugo: "Centrifugo",
  parley: "Parley (SQLite)"
}
const colors: Record<string, string> = { ws: "#7f7f7f", sio: "#1f77b4", centrifugo: "#2ca02c", parley: "#d62728" }

const xml = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;")

export const latencyChart = (results: Results): string => {
  const series = Object.entries(serverNames).flatMap(([key, name]) => {
    const phases: Array<any> = results.servers[key]?.fanout?.phases ?? []
    const points = phases
      .filter((p) => p.latency?.p99Ms > 0)
      .map((p) => ({ x: p.rate as number, y: p.latency.p99Ms as number }))
    return points.length === 0 ? [] : [{ key, name, points }]
  })
  const width = 720
  const height = 420
  const margin = { left: 70, right: 170, top: 40, bottom: 55 }
  const xs = series.flatMap((s) => s.points.map((p) => p.x))
  const ys = series.flatMap((s) => s.points.map((p) => p.y))
  const xMax = Math.max(1, ...xs) * 1.1
  const yMin = 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(1, ...ys))))
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(10, ...ys)))
  const plotW = width - margin.left - margin.right
  const plotH = height - margin.top - margin.bottom
  const x = (v: number) => margin.left + (v / xMax) * plotW
  const y = (v: number) =>
    margin.top +
    plotH -
    ((Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH
  const out: Array<string> = []
  const title = `p99 send→deliver vs. load: 1,000 subscribers, 200-byte messages (${xml(results.meta.date)}, ${xml(results.meta.mode)})`
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<title>${title}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${margin.left}" y="22" font-size="14" font-weight="bold">${title}</text>`
  )
  for (let decade = yMin; decade <= yMax; decade *= 10) {
    out.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y(decade)}" y2="${y(decade)}" stroke="#ddd"/>`,
      `<text x="${margin.left - 8}" y="${y(decade) + 4}" text-anchor="end">${decade >= 1 ? decade : decade.toFixed(1)} ms</text>`
    )
  }
  for (const tick of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(
      `<line x1="${x(tick)}" x2="${x(tick)}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#eee"/>`,
      `<text x="${x(tick)}" y="${margin.top + plotH + 18}" text-anchor="middle">${tick}</text>`
    )
  }
  out.push(
    `<text x="${margin.left + plotW / 2}" y="${height - 12}" text-anchor="middle">messages per second into the room (deliveries/s = × 1,000)</text>`,
    `<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="black"/>`,
    `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${margin.top + plotH}" y2="${margin.top + plotH}" stroke="black"/>`
  )
  series.forEach((s, i) => {
    const color = colors[s.key] ?? "black"
    const path = s.points.map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(" ")
    out.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"/>`)
    for (const p of s.points) {
      out.push(
        `<circle cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="3.5" fill="${color}"><title>${xml(s.name)}: ${p.y} ms at ${p.x} msg/s</title></circle>`
      )
    }
    const ly = margin.top + 10 + i * 20
    out.push(
      `<line x1="${width - margin.right + 15}" x2="${width - margin.right + 40}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${width - margin.right + 46}" y="${ly + 4}">${xml(s.name)}</text>`
    )
  })
  out.push("</svg>")
  return `${out.join("\n")}\n`
}
