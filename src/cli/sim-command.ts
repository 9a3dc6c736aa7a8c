// `paxos sim`: the deterministic simulator from the command line.

import { describeFailure, describeSummary, runSeeds } from "../sim/run-seeds.js";

export interface SimCommandOptions {
  seed?: number;
  seeds?: number;
  nodes: "3" | "5" | "mixed";
  trace: boolean;
  faultPhaseMs: number;
}

export function runSim(o: SimCommandOptions): number {
  const single = o.seed !== undefined && o.seeds === undefined;
  const summary = runSeeds(
    {
      firstSeed: o.seed ?? 1,
      count: o.seeds ?? 1,
      nodes: o.nodes === "mixed" ? "mixed" : (Number(o.nodes) as 3 | 5),
      faultPhaseMs: o.faultPhaseMs,
      ...(o.trace ? { echo: (line: string) => console.log(line) } : {}),
    },
    (r) => {
      if (!r.ok) console.log(describeFailure(r));
      else if (single) console.log(`seed ${r.seed}: ok, trace digest ${r.digest}, stats ${JSON.stringify(r.stats)}`);
    },
  );
  console.log(describeSummary(summary));
  return summary.failures.length === 0 ? 0 : 1;
}
