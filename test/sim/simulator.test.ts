// The deterministic simulator on the real core: hundreds of seeds of
// crashes, partitions, lossy and reordering links and skewed timers, with
// safety checked on every step and liveness after the faults stop.

import { describe, expect, it } from "vitest";
import { describeFailure, describeSummary, runSeeds } from "../../src/sim/run-seeds.js";
import { Simulation } from "../../src/sim/simulation.js";

describe("deterministic simulation", () => {
  it("replays a seed bit for bit, and different seeds differ", () => {
    const a = new Simulation({ seed: 42, nodes: 5 }).run();
    const b = new Simulation({ seed: 42, nodes: 5 }).run();
    const c = new Simulation({ seed: 43, nodes: 5 }).run();
    expect(b.digest).toBe(a.digest);
    expect(b.history).toEqual(a.history);
    expect(b.stats).toEqual(a.stats);
    expect(c.digest).not.toBe(a.digest);
  });

  // Seeds beyond the 600 below that once failed, each with what it found. The simulator is
  // deterministic, so each still replays its scenario as long as the core behaves the same up to it.
  const REGRESSION_SEEDS: readonly { seed: number; nodes: 3 | 5; found: string }[] = [
    // A candidate installed a snapshot mid-election (a peer's log no longer reached back to its
    // prepare's start); a promise then reported the "add" below the new commit point, and the
    // candidate folded it into its applied membership a second time: a member with an id that was
    // never given, which it asked for a promise.
    { seed: 201039, nodes: 3, found: "a change folded in twice during an election" },
    { seed: 201334, nodes: 3, found: "a change folded in twice during an election" },
  ];
  for (const r of REGRESSION_SEEDS) {
    it(`seed ${r.seed} (${r.nodes} nodes) passes: once ${r.found}`, () => {
      const result = new Simulation({ seed: r.seed, nodes: r.nodes }).run();
      expect(result.failure).toBeUndefined();
    });
  }

  it("keeps every invariant on 600 seeds of 3 and 5 nodes, and recovers after the faults", () => {
    const summary = runSeeds({ firstSeed: 1, count: 600, nodes: "mixed" });
    console.log(describeSummary(summary));
    expect(summary.failures.map((f) => describeFailure(f, 40))).toEqual([]);
    // The faults really happened, and clients saw their effects.
    const total = (k: "crashes" | "partitions" | "ok" | "info" | "chosenSlots") => summary.results.reduce((s, r) => s + r.stats[k], 0);
    expect(total("crashes")).toBeGreaterThan(600);
    expect(total("partitions")).toBeGreaterThan(600);
    expect(total("info")).toBeGreaterThan(0);
    expect(total("ok")).toBeGreaterThan(600 * 50);
    expect(total("chosenSlots")).toBeGreaterThan(600 * 50);
    // Membership changes were interleaved with all of it: the cluster grew to 5 voters and more and shrank
    // back to 3, leaders removed themselves, and changes went through while nodes were down or cut off.
    const sum = (k: "changes" | "leaderRemovals" | "changesUnderFaults") => summary.results.reduce((s, r) => s + r.stats[k], 0);
    expect(sum("changes")).toBeGreaterThan(600);
    expect(sum("leaderRemovals")).toBeGreaterThan(20);
    expect(sum("changesUnderFaults")).toBeGreaterThan(100);
    const threeGrewToFive = summary.results.filter((r) => r.nodes === 3 && r.stats.maxVoters >= 5);
    const fiveShrankToThree = summary.results.filter((r) => r.nodes === 5 && r.stats.minVoters <= 3);
    expect(threeGrewToFive.length).toBeGreaterThan(10);
    expect(fiveShrankToThree.length).toBeGreaterThan(10);
    // Thrifty Accepts went out, and batches whose asked acceptors fell silent asked everyone.
    const thrifty = (k: "thriftyAccepts" | "thriftyFallbacks") => summary.results.reduce((s, r) => s + r.stats[k], 0);
    expect(thrifty("thriftyAccepts")).toBeGreaterThan(600 * 10);
    expect(thrifty("thriftyFallbacks")).toBeGreaterThan(600);
  }, 180_000);
});
