#!/usr/bin/env node
/** `parley-admin`: see program.ts for the commands, exit-codes.ts for what the exit codes mean. */
import { processIo } from "./io.ts"
import { run } from "./program.ts"

process.exitCode = await run(process.argv.slice(2), processIo())
