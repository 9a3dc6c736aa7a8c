// The warm-up a node runs before it serves (src/node/warm-up.ts): rounds of
// scratch 3-node clusters in the node's own process, on other ports, in a temp dir.
// Nothing of it may reach the real cluster or stay behind.

import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SCRATCH_PORTS } from "../../src/node/warm-up.js";
import { ProcessCluster } from "../support/process-cluster.js";

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start(3, [], { warmUp: true });
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
});

interface WarmUpLog {
  ms: number;
  rounds: number;
  appends: number;
  scratchDir: string;
  scratchPorts: number[];
  snapshotRounds: number;
}

/** Node i's "warmed up" log entry; fails, with the logs' tails, if it has none. */
function warmUpLog(i: number): WarmUpLog {
  const line = (cluster.logs.get(i) ?? []).find((l) => l.includes("warmed up on scratch clusters"));
  expect(line, cluster.tailLogs(40)).toBeDefined();
  return JSON.parse(line!) as WarmUpLog;
}

describe("a node's warm-up before it serves", () => {
  it("runs on every node, and says how long it took, in how many rounds, and how many scratch appends it made", () => {
    for (let i = 0; i < 3; i++) {
      const entry = warmUpLog(i);
      // More than one round: the point of rounds is code that has seen several instances (warm-up.ts).
      expect(entry.rounds).toBeGreaterThan(1);
      expect(entry.appends).toBeGreaterThan(100);
      expect(entry.ms).toBeGreaterThan(0);
      // Its scratch nodes compacted (each wrote snapshot.bin), so the serving node's first
      // compaction runs code already optimized (warm-up.ts, SCRATCH_SNAPSHOT_EVERY).
      expect(entry.snapshotRounds).toBeGreaterThanOrEqual(1);
      expect(entry.snapshotRounds).toBeLessThanOrEqual(entry.rounds);
    }
  });

  it("leaves the real cluster empty: the scratch appends went elsewhere", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await cluster.append(i, 1, i + 1, 7 + i);
      expect(r.status, r.text).toBe(200);
    }
    const r = await cluster.append(0, 1, 3, 9);
    expect((r.body as { state: number[] }).state).toEqual([7, 8, 9]);
  });

  it("listens only below the ephemeral port range, and never on a port of its own cluster", () => {
    const clusterPorts = new Set([...cluster.httpPorts, ...cluster.grpcPorts, ...cluster.peerPorts]);
    for (let i = 0; i < 3; i++) {
      const { scratchPorts, rounds } = warmUpLog(i);
      // 9 per round (HTTP, gRPC, peer of 3 nodes), none reused by a later round.
      expect(scratchPorts.length).toBe(9 * rounds);
      expect(new Set(scratchPorts).size).toBe(scratchPorts.length);
      for (const p of scratchPorts) {
        expect(p).toBeGreaterThanOrEqual(SCRATCH_PORTS.low);
        expect(p).toBeLessThanOrEqual(SCRATCH_PORTS.high);
        expect(p).toBeLessThan(32_768); // Linux's ephemeral range starts here: harnesses pick ports there with bind(0)
        expect(clusterPorts.has(p)).toBe(false);
      }
    }
  });

  it("removes its scratch data directory", () => {
    for (let i = 0; i < 3; i++) {
      const { scratchDir } = warmUpLog(i);
      expect(scratchDir).toMatch(/paxos-warm-up-/);
      expect(existsSync(scratchDir)).toBe(false);
    }
  });
});
