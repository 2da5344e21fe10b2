/**
 * A minimal Chrome DevTools Protocol client for a server started with `--inspect`: a full GC,
 * `process.memoryUsage()` after it, and a heap snapshot streamed to a file.
 */
import { createWriteStream } from "node:fs"
import WebSocket from "ws"

export const connectInspector = async (port: number, options: { readonly debugger: boolean }) => {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
    webSocketDebuggerUrl: string
  }>
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl, { maxPayload: 1024 * 1024 * 1024 })
  await new Promise((done, fail) => {
    ws.once("open", done)
    ws.once("error", fail)
  })
  let nextId = 1
  const pending = new Map<number, (result: any) => void>()
  const listeners = new Map<string, (params: any) => void>()
  ws.on("message", (data: Buffer) => {
    const message = JSON.parse(data.toString())
    if (message.id !== undefined) {
      pending.get(message.id)?.(
        message.error ? Promise.reject(new Error(JSON.stringify(message.error))) : message.result
      )
      pending.delete(message.id)
    } else listeners.get(message.method)?.(message.params)
  })
  const call = (method: string, params: object = {}) =>
    new Promise<any>((done) => {
      const id = nextId++
      pending.set(id, done)
      ws.send(JSON.stringify({ id, method, params }))
    })

  const scripts = new Map<string, string>()
  listeners.set("Debugger.scriptParsed", (params) => scripts.set(params.scriptId, params.url))
  // Only for snapshots: an enabled debugger keeps scripts' sources and slows the server down.
  if (options.debugger) await call("Debugger.enable")

  return {
    /** Script id → URL, to name the closures of a heap snapshot by where they were written. */
    scripts: () => Object.fromEntries(scripts),
    gc: async () => {
      // Twice: the first pass may only queue finalizers (WeakRefs, FinalizationRegistry).
      await call("HeapProfiler.collectGarbage")
      await call("HeapProfiler.collectGarbage")
    },
    memoryUsage: async () => {
      const result = await call("Runtime.evaluate", {
        expression: "JSON.stringify(process.memoryUsage())",
        returnByValue: true
      })
      return JSON.parse(result.result.value) as NodeJS.MemoryUsage
    },
    /** Writes a .heapsnapshot (the snapshot itself runs a full GC first). */
    heapSnapshot: async (path: string) => {
      const out = createWriteStream(path)
      listeners.set("HeapProfiler.addHeapSnapshotChunk", (params) => out.write(params.chunk))
      await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false, captureNumericValue: false })
      listeners.delete("HeapProfiler.addHeapSnapshotChunk")
      await new Promise((done) => out.end(done))
    },
    /** Starts V8's sampling CPU profiler (what `--cpu-prof` runs), for one window of the run. */
    startProfile: async (intervalUs: number) => {
      await call("Profiler.enable")
      await call("Profiler.setSamplingInterval", { interval: intervalUs })
      await call("Profiler.start")
    },
    stopProfile: async () => (await call("Profiler.stop")).profile,
    /** Starts V8's sampling heap profiler, counting what is collected again too (garbage is what we look for). */
    startAllocations: async (intervalBytes: number) => {
      await call("HeapProfiler.enable")
      await call("HeapProfiler.startSampling", {
        samplingInterval: intervalBytes,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true
      })
    },
    stopAllocations: async () => (await call("HeapProfiler.stopSampling")).profile,
    close: () => ws.close()
  }
}
