import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A guard against hangs, not a speed bound (tests state their own bounds): tests that start
    // clusters of processes took up to 17 s with both cores busy, so 30 s left too little room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites start real clusters of OS processes on fixed ports:
    // run test files one at a time so they never compete for ports or cores.
    fileParallelism: false,
  },
});
