// Thrifty Accepts between real processes: under load a batch asks the leader
// and one follower to vote, so the followers make fewer fdatasyncs; and
// with either follower paused (SIGSTOP, state "T" read from the kernel)
// appends still complete: a batch that the paused follower was asked to vote
// on asks the other one after thriftyFallbackTicks, and the next batch asks
// the follower whose vote completed that one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessCluster, httpJson } from "../support/process-cluster.js";

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start(3);
});

afterAll(async () => {
  await cluster?.destroy();
});

async function counter(i: number, name: string): Promise<number> {
  const r = await httpJson(cluster.url(i, "/metrics"));
  const m = new RegExp(`^${name} (\\d+)`, "m").exec(r.text);
  if (m === null) throw new Error(`no ${name} in node ${i}'s /metrics`);
  return Number(m[1]);
}

const fdatasyncs = (i: number) => counter(i, "paxos_fdatasyncs_total");

/** `clients` clients spread over the nodes `via`, each appending `each` times one after another; every append must succeed. */
async function load(via: readonly number[], clientBase: number, clients: number, each: number): Promise<void> {
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let k = 1; k <= each; k++) {
        const r = await cluster.append(via[c % via.length]!, clientBase + c, k, clientBase + c, 10_000);
        expect(r.status, r.text).toBe(200);
      }
    }),
  );
}

describe("thrifty Accepts", () => {
  it("under load the followers sync well under once per batch each: a large batch asks one of them to vote", async () => {
    const leader = await cluster.waitForLeader();
    const followers = [0, 1, 2].filter((i) => i !== leader);
    const before = await Promise.all([0, 1, 2].map(fdatasyncs));
    const fallbacksBefore = await counter(leader, "paxos_thrifty_fallbacks_total");
    await load([0, 1, 2], 1_000, 48, 100);
    const after = await Promise.all([0, 1, 2].map(fdatasyncs));
    const fallbacks = (await counter(leader, "paxos_thrifty_fallbacks_total")) - fallbacksBefore;
    const d = after.map((a, i) => a - before[i]!);
    const followerSyncs = d[followers[0]!]! + d[followers[1]!]!;
    // The leader syncs about once per batch. With every follower voting on every batch the followers
    // together sync about twice that (measured here: 1.96-1.99x); thrifty, 1.34-1.35x (small batches
    // under load ask everyone; 1.13x when they too asked one follower, dropped: docs/performance.md;
    // a quiet follower's lazy writes go out every 100 ms).
    // A fallback (the asked follower slow, as on a loaded machine) may cost the other one a sync more.
    expect(d[leader], `fdatasyncs: ${d.join(" / ")}`).toBeGreaterThan(50);
    expect(followerSyncs, `fdatasyncs: ${d.join(" / ")}, fallbacks ${fallbacks}`).toBeLessThan(1.7 * d[leader]! + fallbacks);
    for (const i of [0, 1, 2]) expect((await cluster.state(i)).length).toBe(48 * 100);
  });

  it("appends complete with either follower paused", async () => {
    const leader = await cluster.waitForLeader();
    const fallbacks = await counter(leader, "paxos_thrifty_fallbacks_total");
    let base = 10_000;
    for (const f of [0, 1, 2].filter((i) => i !== leader)) {
      expect(await cluster.pause(f, true)).toBe("T"); // evidence from the kernel, not from our own signal call
      try {
        const t0 = Date.now();
        await load([leader], base, 32, 5);
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect((await cluster.status(leader)).role).toBe("leader"); // served by the same leader, not after an election
      } finally {
        expect(await cluster.pause(f, false)).not.toBe("T");
      }
      base += 1_000;
    }
    // Not required to rise: the leader may have asked the running follower first from the start. The
    // fallback itself is checked in test/core/thrifty.test.ts; here the counter is exported and never goes back.
    expect(await counter(leader, "paxos_thrifty_fallbacks_total")).toBeGreaterThanOrEqual(fallbacks);
  });
});
