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
