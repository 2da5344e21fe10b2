// Effect's own diagnostics (@effect/tsgo, the language service for TypeScript 7) over the whole
// project: fails on any error, such as an Effect that is built but never run (`floatingEffect`)
// or a plain vitest `it` returning an Effect (`floatingEffectInVitest`). The rules come from the
// plugin entry in tsconfig.base.json; without it the tool checks no file and reports nothing,
// so a run that checked no file fails too.
import { spawnSync } from "node:child_process"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const result = spawnSync(
  join(root, "node_modules", ".bin", "effect-tsgo"),
  ["diagnostics", "--project", join(root, "tsconfig.json"), "--format", "text", "--severity", "error"],
  { cwd: root, encoding: "utf8" }
)
const output = `${result.stdout ?? ""}${result.stderr ?? ""}`
process.stdout.write(output)
const checked = /Checked (\d+) files/.exec(output)
if (result.error) {
  console.error(`effect-tsgo failed to start: ${result.error.message}`)
  process.exit(1)
}
if (checked === null || Number(checked[1]) === 0) {
  console.error("effect-tsgo checked no file: is the @effect/language-service plugin still in tsconfig.base.json?")
  process.exit(1)
}
process.exit(result.status === 0 ? 0 : 1)
