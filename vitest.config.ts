import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A guard against hangs, not a speed bound (tests state their own bounds): tests that start
    // clusters of processes took up to 17 s with both cores busy, so 30 s left too little room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites start real clusters of OS processes (on ports picked
    // free at start, see src/config/free-ports.ts), fdatasync on one disk and
    // bound their timings: run test files one at a time so they never compete
    // for cores, the disk or a port picked free but not yet bound.
    fileParallelism: false,
  },
});
