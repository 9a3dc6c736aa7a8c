// `paxos jepsen`: the Jepsen-style test on this machine (needs root).

import { isModelName, type ModelName } from "../check/models.js";
import { runLocalJepsen } from "../harness/local-jepsen.js";
import { NEMESES, type NemesisKind } from "../harness/nemesis.js";
import { HarnessError } from "../harness/netns.js";
import { createProgress } from "./progress.js";

export interface JepsenCommandOptions {
  nodes: number;
  concurrency: number;
  timeLimit: number;
  rate: number;
  nemesis: string;
  reads: boolean;
  healthy: number;
  faulty: number;
  model: string;
  name: string;
  store: string;
  requestTimeoutMs: number;
  tls: boolean;
}

export function parseNemeses(text: string): NemesisKind[] {
  const kinds = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const k of kinds) {
    if (!(NEMESES as readonly string[]).includes(k)) throw new Error(`unknown nemesis "${k}"; choose from ${NEMESES.join(", ")}`);
  }
  return kinds.length === 0 ? ["none"] : (kinds as NemesisKind[]);
}

export async function runJepsen(o: JepsenCommandOptions, entryScript: string): Promise<number> {
  if (!isModelName(o.model)) {
    console.error(`paxos jepsen: unknown model "${o.model}" (strict or appendable-list)`);
    return 2;
  }
  let nemeses: NemesisKind[];
  try {
    nemeses = parseNemeses(o.nemesis);
  } catch (e) {
    console.error(`paxos jepsen: ${(e as Error).message}`);
    return 2;
  }
  // Progress on stderr; the run's own lines go to stdout with the bar out of the way.
  const progress = createProgress();
  try {
    const outcome = await runLocalJepsen(
      {
        nodes: o.nodes,
        concurrency: o.concurrency,
        timeLimitS: o.timeLimit,
        rate: o.rate,
        nemeses,
        reads: o.reads,
        healthyS: o.healthy,
        faultyS: o.faulty,
        model: o.model as ModelName,
        name: o.name,
        storeDir: o.store,
        requestTimeoutMs: o.requestTimeoutMs,
        tls: o.tls,
        progress,
        log: (line: string) => progress.interrupt(() => console.log(line)),
      },
      entryScript,
    );
    return outcome.exitCode;
  } catch (e) {
    if (e instanceof HarnessError) {
      console.error(`paxos jepsen: ${e.message}`);
      return 2;
    }
    throw e;
  } finally {
    progress.stop();
  }
}
