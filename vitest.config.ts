import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites start real clusters of OS processes on fixed ports:
    // run test files one at a time so they never compete for ports or cores.
    fileParallelism: false,
  },
});
