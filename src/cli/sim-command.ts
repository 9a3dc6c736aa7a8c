// `paxos sim`: the deterministic simulator from the command line.

import { describeFailure, describeSummary, runSeeds } from "../sim/run-seeds.js";
import { runViewerCommand } from "../sim/viewer/html.js";
import { createProgress, NO_PROGRESS, type Progress } from "./progress.js";

export interface SimCommandOptions {
  seed?: number;
  seeds?: number;
  nodes: "3" | "5" | "mixed";
  trace: boolean;
  faultPhaseMs: number;
  /** Write the step-by-step viewer of the one --seed to this file. */
  html?: string;
  /** Progress of --seeds on stderr (default createProgress(); none for one seed or --trace). */
  progress?: Progress;
}

export function runSim(o: SimCommandOptions): number {
  if (o.html !== undefined) return runViewerCommand(o.html, o);
  const single = o.seed !== undefined && o.seeds === undefined;
  const count = o.seeds ?? 1;
  const progress = single || o.trace || count < 2 ? NO_PROGRESS : (o.progress ?? createProgress());
  let done = 0;
  let failed = 0;
  progress.start(count, "sim", { unit: "seeds" });
  const summary = runSeeds(
    {
      firstSeed: o.seed ?? 1,
      count,
      nodes: o.nodes === "mixed" ? "mixed" : (Number(o.nodes) as 3 | 5),
      faultPhaseMs: o.faultPhaseMs,
      ...(o.trace ? { echo: (line: string) => console.log(line) } : {}),
    },
    (r) => {
      if (!r.ok) progress.interrupt(() => console.log(describeFailure(r)));
      else if (single) console.log(`seed ${r.seed}: ok, trace digest ${r.digest}, stats ${JSON.stringify(r.stats)}`);
      if (!r.ok) failed++;
      progress.update(++done, failed > 0 ? `${failed} failed` : undefined);
    },
  );
  progress.stop();
  console.log(describeSummary(summary));
  return summary.failures.length === 0 ? 0 : 1;
}
