// Reads through followers (the read-index technique over the peer protocol):
// a follower asks the leader for the list's length at a point where the
// leader confirmed it still leads, then answers from its own copy. Real
// processes on loopback; the fault (a paused leader) is proven from /proc.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessCluster, httpJson } from "../support/process-cluster.js";

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start(3);
});

afterAll(async () => {
  await cluster?.destroy();
});

describe("reads through any node", () => {
  it("every node answers a read with the list of every append acknowledged before it", async () => {
    const leader = await cluster.waitForLeader();
    const followers = [0, 1, 2].filter((i) => i !== leader);
    const acknowledged: number[] = [];
    for (let n = 0; n < 6; n++) {
      const through = n % 3;
      const r = await cluster.append(through, 300 + n, 1, 5000 + n);
      expect(r.status, r.text).toBe(200);
      acknowledged.push(5000 + n);
      // Right after the reply, a read through a follower already sees it (no stale follower read).
      for (const f of followers) {
        const state = await cluster.state(f);
        expect(state.slice(-acknowledged.length)).toEqual(acknowledged);
      }
    }
  });

  it("routes a follower's read to the next leader when the leader is paused (SIGSTOP)", async () => {
    const leader = await cluster.waitForLeader();
    const follower = (leader + 1) % 3;
    const before = await cluster.state(follower);
    expect(await cluster.pause(leader, true)).toBe("T"); // evidence from the kernel, not from our own signal call
    try {
      const t0 = Date.now();
      const r = await httpJson(cluster.url(follower, "/state"), { timeoutMs: 15_000 });
      expect(r.status, r.text).toBe(200);
      expect((r.body as { state: number[] }).state.slice(0, before.length)).toEqual(before);
      expect(Date.now() - t0).toBeLessThan(10_000);
      const st = await cluster.status(follower);
      expect(st.leader).not.toBe(leader); // it was served under a new leader
    } finally {
      await cluster.pause(leader, false);
    }
  });
});
