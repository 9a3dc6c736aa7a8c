// Where the time of a request goes: a node started with --trace-steps FILE
// records, at the edges of the runtime (gateway in and out, messages sent
// and received by type, fdatasync start and end, results), a timestamp per
// step, and writes them to FILE when it stops. `paxos bench --breakdown`
// lines the three nodes' steps up per request (src/bench/breakdown.ts).
// Off by default: then every record() is one branch.

import { writeFileSync } from "node:fs";

/** Most steps kept (the oldest are overwritten): a 1,000-append run records about 20,000. */
const CAPACITY = 500_000;

export interface TracedStep {
  readonly step: string;
  /** Wall-clock milliseconds (performance.timeOrigin + performance.now(): comparable across processes on one machine). */
  readonly atMs: number;
}

export class StepTrace {
  private readonly at = new Float64Array(CAPACITY);
  private readonly steps: string[] = new Array<string>(CAPACITY);
  private n = 0;

  constructor(
    private readonly file: string,
    private readonly nodeId: number,
  ) {}

  record(step: string): void {
    const i = this.n++ % CAPACITY;
    this.at[i] = performance.timeOrigin + performance.now();
    this.steps[i] = step;
  }

  /** Writes what was recorded, oldest first: {"node": id, "steps": [{step, atMs}...]}. */
  save(): void {
    const count = Math.min(this.n, CAPACITY);
    const first = this.n - count;
    const steps: TracedStep[] = [];
    for (let k = first; k < this.n; k++) steps.push({ step: this.steps[k % CAPACITY]!, atMs: this.at[k % CAPACITY]! });
    writeFileSync(this.file, JSON.stringify({ node: this.nodeId, steps }));
  }
}
