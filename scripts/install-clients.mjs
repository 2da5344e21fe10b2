// `npm run install-clients [-- DIR]`: puts `parley` and `parley-admin` commands into DIR
// (default ~/.local/bin). Each is a two-line shell script that runs the client from this
// clone on the Node 24 that bootstrap.mjs provided, so the machine's own Node does not matter.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const dir = resolve(process.argv[2] ?? join(homedir(), ".local", "bin"))
const clients = { parley: "apps/cli/src/chat/main.ts", "parley-admin": "apps/cli/src/admin/main.ts" }
const quote = (s) => `'${s.replaceAll("'", "'\\''")}'`

mkdirSync(dir, { recursive: true })
for (const [name, entry] of Object.entries(clients)) {
  const file = join(dir, name)
  writeFileSync(file, `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(join(root, entry))} "$@"\n`)
  chmodSync(file, 0o755)
  console.log(`installed ${file}`)
}
if (!(process.env.PATH ?? "").split(":").includes(dir)) console.log(`add ${dir} to your PATH to run them by name`)
