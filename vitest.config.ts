import { defineConfig } from "vitest/config"

/**
 * `unit`: in-process, no external services. `integration`: talks to the real
 * Cassandra, Redis and server processes that `npm test` starts, one file at a time.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["{apps,packages}/*/test/**/*.test.ts"],
          // Some unit tests start a SQLite worker thread or a child process; on a loaded 2-core
          // machine that alone can pass vitest's 5 s default. Tests wait on events, not on time.
          testTimeout: 30_000,
          exclude: ["**/*.integration.test.ts", "**/node_modules/**"]
        }
      },
      {
        test: {
          name: "integration",
          include: ["{apps,packages}/*/test/**/*.integration.test.ts"],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000
        }
      }
    ]
  }
})
