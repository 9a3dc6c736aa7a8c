// Runs many seeds and reports, in the same words for the CLI and the tests.

import { Simulation, type SimOptions, type SimResult } from "./simulation.js";

export interface SeedsOptions extends Omit<SimOptions, "seed" | "nodes"> {
  readonly firstSeed: number;
  readonly count: number;
  /** "mixed" alternates 3 and 5 nodes by seed parity. */
  readonly nodes: 3 | 5 | "mixed";
  /** Stop at the first failing seed. */
  readonly stopOnFailure?: boolean;
}

export interface SeedsSummary {
  readonly results: SimResult[];
  readonly failures: SimResult[];
  readonly elapsedMs: number;
}

export function nodesFor(seed: number, nodes: 3 | 5 | "mixed"): 3 | 5 {
  return nodes === "mixed" ? (seed % 2 === 0 ? 5 : 3) : nodes;
}

export function runSeeds(o: SeedsOptions, onResult?: (r: SimResult) => void): SeedsSummary {
  const t0 = Date.now();
  const results: SimResult[] = [];
  const failures: SimResult[] = [];
  for (let seed = o.firstSeed; seed < o.firstSeed + o.count; seed++) {
    const r = new Simulation({ ...o, seed, nodes: nodesFor(seed, o.nodes) }).run();
    results.push(r);
    onResult?.(r);
    if (!r.ok) {
      failures.push(r);
      if (o.stopOnFailure) break;
    }
  }
  return { results, failures, elapsedMs: Date.now() - t0 };
}

/** The one command that replays a seed, with its full trace. */
export function replayCommand(r: SimResult): string {
  return `npm run sim -- --seed ${r.seed} --nodes ${r.nodes} --trace`;
}

/** The command that writes the seed's step-by-step viewer, opened at the first violated invariant. */
export function viewerCommand(r: Pick<SimResult, "seed" | "nodes">): string {
  return `npm run sim -- --seed ${r.seed} --nodes ${r.nodes} --html seed-${r.seed}.html`;
}

export function describeFailure(r: SimResult, traceLines = 80): string {
  return [
    `seed ${r.seed} (${r.nodes} nodes) FAILED: ${r.failure}`,
    `last ${Math.min(traceLines, r.trace.length)} events before it:`,
    ...r.trace.slice(-traceLines).map((l) => `  ${l}`),
    `replay: ${replayCommand(r)}`,
    `view:   ${viewerCommand(r)}`,
  ].join("\n");
}

export function describeSummary(s: SeedsSummary): string {
  const sum = (k: keyof SimResult["stats"]) => s.results.reduce((a, r) => a + r.stats[k], 0);
  return (
    `${s.results.length} seeds: ${s.results.length - s.failures.length} passed, ${s.failures.length} failed ` +
    `(${sum("ops")} client ops: ${sum("ok")} ok, ${sum("info")} info, ${sum("fail")} fail; ${sum("crashes")} crashes, ` +
    `${sum("partitions")} partitions, ${sum("changes")} membership changes (${sum("leaderRemovals")} removing the leader, ${sum("changesUnderFaults")} under faults), ${sum("chosenSlots")} slots chosen; ${(sum("simulatedMs") / 1000).toFixed(0)} s simulated in ${(s.elapsedMs / 1000).toFixed(1)} s)`
  );
}
