/**
 * Mutation testing of the message path and auth: `pnpm mutate` (docs/mutation-testing.md).
 * Runs the server's unit tests (vitest.stryker.config.ts) against each mutant, in a copy of
 * the tree under .stryker-tmp, so the working tree is never touched. One worker: the machine
 * running it is usually busy with other test suites. Incremental: a rerun only tests mutants
 * in code or tests that changed since the last run (reports/stryker-incremental.json);
 * `pnpm mutate --force` tests them all again.
 */
export default {
  packageManager: "pnpm",
  // pnpm keeps the runner beside its own package, not beside @stryker-mutator/core, where
  // Stryker's default "@stryker-mutator/*" plugin search looks.
  plugins: ["./node_modules/@stryker-mutator/vitest-runner/dist/src/index.js"],
  testRunner: "vitest",
  vitest: { configFile: "vitest.stryker.config.ts" },
  mutate: [
    "apps/server/src/chat/room-actor.ts",
    "apps/server/src/chat/room-router.ts",
    "apps/server/src/realtime/hub.ts",
    "apps/server/src/ws/inbound.ts",
    "apps/server/src/auth/*.ts",
    "apps/server/src/http/authorization.ts",
    "apps/server/src/http/require-admin.ts"
  ],
  coverageAnalysis: "perTest",
  concurrency: 1,
  timeoutMS: 10_000,
  incremental: true,
  reporters: ["clear-text", "progress", "html", "json"],
  ignorePatterns: ["/.tools", "/apps/cli", "/data", "/docs", "/reports", "/bench*"],
  // Stryker rewrites tsconfig paths with TypeScript's JS API, which TypeScript 7 (tsgo) no
  // longer ships. The sandbox keeps the tree's layout, so no path needs rewriting: point the
  // rewrite at a file that does not exist and it does nothing.
  tsconfigFile: "no-tsconfig-rewrite.json",
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always"
}
