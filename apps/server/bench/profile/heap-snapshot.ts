/**
 * Reads a V8 `.heapsnapshot` without JSON-parsing the whole file (too large a string for V8
 * past a few hundred MB): the node and edge arrays are scanned as numbers, only the header
 * and the string table go through JSON.parse. Computes the dominator tree (Cooper, Harvey,
 * Kennedy; weak edges ignored, as DevTools does) so objects can be charged their retained size.
 */
import { readFileSync } from "node:fs"

export interface Snapshot {
  readonly nodeCount: number
  readonly nodeFieldCount: number
  readonly nodes: Uint32Array
  readonly edges: Uint32Array
  readonly edgeFieldCount: number
  readonly strings: ReadonlyArray<string>
  readonly nodeTypes: ReadonlyArray<string>
  readonly edgeTypes: ReadonlyArray<string>
  /** Index of each node's first edge in `edges` (in edge units, not fields). */
  readonly firstEdge: Uint32Array
  readonly typeOf: (node: number) => string
  readonly nameOf: (node: number) => string
  readonly selfSize: (node: number) => number
  /** What a node counts as in the breakdowns: its constructor for objects, `(type) name` otherwise. */
  readonly classOf: (node: number) => string
  /** Where a closure was written: script id, line and column (0-based), when V8 recorded it. */
  readonly locationOf: (
    node: number
  ) => { readonly scriptId: number; readonly line: number; readonly column: number } | undefined
}

const scanInts = (buf: Buffer, from: number, count: number) => {
  const out = new Uint32Array(count)
  let i = from
  let n = 0
  while (n < count) {
    let c = buf[i]!
    while (c < 48 || c > 57) c = buf[++i]!
    let v = 0
    while (c >= 48 && c <= 57) {
      v = v * 10 + (c - 48)
      c = buf[++i]!
    }
    out[n++] = v
  }
  return { values: out, end: i }
}

export const readSnapshot = (path: string): Snapshot => {
  const buf = readFileSync(path)
  const nodesAt = buf.indexOf('"nodes":[')
  const header = JSON.parse(`${buf.toString("utf8", 0, nodesAt).trim().replace(/,$/, "")}}`).snapshot
  const meta = header.meta
  const nodeFieldCount = meta.node_fields.length as number
  const edgeFieldCount = meta.edge_fields.length as number
  const nodes = scanInts(buf, nodesAt + 9, header.node_count * nodeFieldCount)
  const edgesAt = buf.indexOf('"edges":[', nodes.end)
  const edges = scanInts(buf, edgesAt + 9, header.edge_count * edgeFieldCount)
  const locationsAt = buf.indexOf('"locations":[', edges.end)
  const locations = new Map<number, { scriptId: number; line: number; column: number }>()
  if (locationsAt >= 0) {
    const end = buf.indexOf("]", locationsAt)
    const values = buf
      .toString("latin1", locationsAt + 13, end)
      .split(",")
      .filter((v) => v.length > 0)
      .map(Number)
    for (let i = 0; i + 3 < values.length; i += 4) {
      locations.set(values[i]! / nodeFieldCount, {
        scriptId: values[i + 1]!,
        line: values[i + 2]!,
        column: values[i + 3]!
      })
    }
  }
  const stringsAt = buf.indexOf('"strings":[', edges.end)
  const stringsEnd = buf.lastIndexOf("]")
  const strings = JSON.parse(buf.toString("utf8", stringsAt + 10, stringsEnd + 1)) as Array<string>
  const nodeTypes = meta.node_types[0] as Array<string>
  const edgeTypes = meta.edge_types[0] as Array<string>
  const nodeCount = header.node_count as number
  const edgeCountField = meta.node_fields.indexOf("edge_count")
  const firstEdge = new Uint32Array(nodeCount + 1)
  for (let n = 0, e = 0; n < nodeCount; n++) {
    firstEdge[n] = e
    e += nodes.values[n * nodeFieldCount + edgeCountField]!
    firstEdge[n + 1] = e
  }
  const typeOf = (node: number) => nodeTypes[nodes.values[node * nodeFieldCount]!]!
  const nameOf = (node: number) => strings[nodes.values[node * nodeFieldCount + 1]!]!
  const selfSize = (node: number) => nodes.values[node * nodeFieldCount + 3]!
  const classOf = (node: number) => {
    const type = typeOf(node)
    const name = nameOf(node)
    switch (type) {
      case "object":
      case "native":
        return name.length > 70 ? `${name.slice(0, 70)}…` : name
      case "closure":
        return `(closure) ${name || "anonymous"}`
      case "string":
      case "concatenated string":
      case "sliced string":
        return "(string)"
      case "number":
        return "(number)"
      case "code":
        return "(code)"
      case "hidden":
      case "array":
      case "synthetic":
      case "object shape":
        return `(${type}) ${name.replace(/\d+/g, "#").slice(0, 60)}`
      default:
        return `(${type})`
    }
  }
  return {
    nodeCount,
    nodeFieldCount,
    nodes: nodes.values,
    edges: edges.values,
    edgeFieldCount,
    strings,
    nodeTypes,
    edgeTypes,
    firstEdge,
    typeOf,
    nameOf,
    selfSize,
    classOf,
    locationOf: (node) => locations.get(node)
  }
}

/** Immediate dominator of every node (node 0, the synthetic root, dominates itself). */
export const dominators = (s: Snapshot) => {
  const n = s.nodeCount
  const weak = s.edgeTypes.indexOf("weak")
  const toNode = (e: number) => s.edges[e * s.edgeFieldCount + 2]! / s.nodeFieldCount
  const isWeak = (e: number) => s.edges[e * s.edgeFieldCount]! === weak
  // Post-order numbering by an iterative DFS from the root.
  const postOrder = new Int32Array(n).fill(-1)
  const order = new Uint32Array(n) // post-order index → node
  const visited = new Uint8Array(n)
  const stackNode = new Uint32Array(n)
  const stackEdge = new Uint32Array(n)
  let sp = 0
  let count = 0
  stackNode[0] = 0
  stackEdge[0] = s.firstEdge[0]!
  visited[0] = 1
  sp = 1
  while (sp > 0) {
    const node = stackNode[sp - 1]!
    const e = stackEdge[sp - 1]!
    if (e < s.firstEdge[node + 1]!) {
      stackEdge[sp - 1] = e + 1
      if (isWeak(e)) continue
      const child = toNode(e)
      if (visited[child]) continue
      visited[child] = 1
      stackNode[sp] = child
      stackEdge[sp] = s.firstEdge[child]!
      sp++
    } else {
      postOrder[node] = count
      order[count++] = node
      sp--
    }
  }
  // Predecessors (strong edges, reachable nodes only), as a CSR array.
  const predCount = new Uint32Array(n + 1)
  for (let node = 0; node < n; node++) {
    if (!visited[node]) continue
    for (let e = s.firstEdge[node]!; e < s.firstEdge[node + 1]!; e++) {
      if (!isWeak(e)) predCount[toNode(e) + 1]!++
    }
  }
  for (let i = 0; i < n; i++) predCount[i + 1]! += predCount[i]!
  const preds = new Uint32Array(predCount[n]!)
  const fill = predCount.slice()
  for (let node = 0; node < n; node++) {
    if (!visited[node]) continue
    for (let e = s.firstEdge[node]!; e < s.firstEdge[node + 1]!; e++) {
      if (!isWeak(e)) preds[fill[toNode(e)]!++] = node
    }
  }
  const idom = new Int32Array(n).fill(-1)
  idom[0] = 0
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (postOrder[a]! < postOrder[b]!) a = idom[a]!
      while (postOrder[b]! < postOrder[a]!) b = idom[b]!
    }
    return a
  }
  for (let changed = true; changed; ) {
    changed = false
    for (let i = count - 2; i >= 0; i--) {
      const node = order[i]!
      let dom = -1
      for (let p = predCount[node]!; p < predCount[node + 1]!; p++) {
        const pred = preds[p]!
        if (idom[pred] === -1) continue
        dom = dom === -1 ? pred : intersect(pred, dom)
      }
      if (dom !== -1 && idom[node] !== dom) {
        idom[node] = dom
        changed = true
      }
    }
  }
  // Retained sizes: children before parents, i.e. in post order.
  const retained = new Float64Array(n)
  for (let i = 0; i < count; i++) {
    const node = order[i]!
    retained[node]! += s.selfSize(node)
    if (node !== 0) retained[idom[node]!]! += retained[node]!
  }
  return { idom, retained, reachable: visited }
}
