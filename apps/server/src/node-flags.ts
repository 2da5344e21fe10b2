/**
 * The Node flags the server runs with (`apps/server/node-flags.json` says why), for whatever
 * starts it besides `npm start`: the tests' and the benchmarks' server processes. A flag the
 * caller's NODE_OPTIONS names is left out, as `npm start` does, so the operator's wins.
 */
import { readFileSync } from "node:fs"
import { resolve } from "node:path"

export const serverNodeFlags = (nodeOptions = process.env.NODE_OPTIONS ?? ""): ReadonlyArray<string> =>
  (JSON.parse(readFileSync(resolve(import.meta.dirname, "../node-flags.json"), "utf8")).flags as Array<string>).filter(
    (flag) => !nodeOptions.includes(flag.split("=")[0]!)
  )
