// A simulator that has never caught a bug proves nothing: break one rule of
// the protocol at a time and require a reported violation within a bounded
// number of seeds (and a replay of that seed that fails the same way).

import { describe, expect, it } from "vitest";
import { Simulation } from "../../src/sim/simulation.js";
import { nodesFor, runSeeds } from "../../src/sim/run-seeds.js";
import { INJECTED_BUGS } from "./buggy-cores.js";

const SEED_BUDGET = 500;

describe("the simulator catches injected protocol bugs", () => {
  for (const bug of INJECTED_BUGS) {
    it(`finds "${bug.name}" within ${SEED_BUDGET} seeds`, () => {
      const summary = runSeeds({ firstSeed: 1, count: SEED_BUDGET, nodes: "mixed", stopOnFailure: true, ...bug.options });
      const failure = summary.failures[0];
      expect(failure, `no violation in ${SEED_BUDGET} seeds`).toBeDefined();
      expect(failure!.failure).toMatch(bug.expected);
      // The failing seed replays bit for bit.
      const replay = new Simulation({ seed: failure!.seed, nodes: nodesFor(failure!.seed, "mixed"), ...bug.options }).run();
      expect(replay.failure).toBe(failure!.failure);
      expect(replay.digest).toBe(failure!.digest);
      // And with the one broken rule put back, the same seed passes: the rule is what was caught.
      const fixed = new Simulation({ seed: failure!.seed, nodes: nodesFor(failure!.seed, "mixed"), ...bug.control }).run();
      expect(fixed.failure).toBeUndefined();
    }, 120_000);
  }
});
