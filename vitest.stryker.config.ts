import { defineConfig } from "vitest/config"

/**
 * What Stryker runs against each mutant (`pnpm mutate`): the server's in-process unit tests
 * only. The mutated files are the message path and auth, which only these tests load; the
 * integration suites run the server as child processes, which Stryker cannot see into.
 */
export default defineConfig({
  test: {
    include: ["apps/server/test/**/*.test.ts"],
    exclude: ["**/*.integration.test.ts", "**/node_modules/**"]
  }
})
