// Where the time of one append goes (`paxos bench --breakdown N`): one
// client appends N times through node 0 of a fresh cluster whose nodes run
// with --trace-steps (src/node/step-trace.ts). Each append is a window from
// "gateway in" to "reply out" on node 0; in each window, the first time each
// node reaches each step (a message sent or received by type, fdatasync
// start and end, the result) is taken relative to "gateway in", and the
// median over the windows is reported, in order. With one request in flight
// at a time, the windows do not overlap, so every step in one belongs to it.

import type { TracedStep } from "../node/step-trace.js";
import { alignTable } from "./report.js";

export interface NodeTrace {
  readonly node: number;
  readonly steps: readonly TracedStep[];
}

export interface BreakdownRow {
  readonly node: number;
  /** "entry" (node 0, where the client's request arrives), "leader", "follower", or both "entry+leader". */
  readonly role: string;
  readonly step: string;
  /** Median milliseconds from "gateway in" on the entry node. */
  readonly medianMs: number;
  /** Share of the appends in which this node reached this step. */
  readonly seenShare: number;
}

export interface Breakdown {
  readonly appends: number;
  readonly entry: number;
  readonly leader: number;
  /** Median of the windows' lengths (gateway in to reply out). */
  readonly medianTotalMs: number;
  readonly rows: readonly BreakdownRow[];
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

/** Index of the first step at or after `t` (steps are in time order). */
function firstAtOrAfter(steps: readonly TracedStep[], t: number): number {
  let lo = 0;
  let hi = steps.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (steps[mid]!.atMs < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Lines the nodes' steps up per append; steps seen in under half of the appends are left out. */
export function lineUpSteps(traces: readonly NodeTrace[], entry: number, leader: number): Breakdown {
  const entrySteps = traces.find((t) => t.node === entry)?.steps ?? [];
  const windows: [number, number][] = [];
  let open: number | null = null;
  for (const s of entrySteps) {
    if (s.step === "gateway in") open = s.atMs;
    else if (s.step === "reply out" && open !== null) {
      windows.push([open, s.atMs]);
      open = null;
    }
  }
  const offsets = new Map<string, { node: number; step: string; values: number[] }>();
  for (const [tin, tout] of windows) {
    for (const t of traces) {
      const sorted = t.steps;
      const seen = new Set<string>();
      for (let i = firstAtOrAfter(sorted, tin); i < sorted.length && sorted[i]!.atMs <= tout; i++) {
        const s = sorted[i]!;
        if (seen.has(s.step)) continue;
        seen.add(s.step);
        const key = `${t.node}|${s.step}`;
        let o = offsets.get(key);
        if (o === undefined) offsets.set(key, (o = { node: t.node, step: s.step, values: [] }));
        o.values.push(s.atMs - tin);
      }
    }
  }
  const role = (node: number) => (node === entry && node === leader ? "entry+leader" : node === entry ? "entry" : node === leader ? "leader" : "follower");
  const rows = [...offsets.values()]
    .filter((o) => o.values.length >= windows.length / 2)
    .map((o) => ({ node: o.node, role: role(o.node), step: o.step, medianMs: median(o.values), seenShare: o.values.length / Math.max(1, windows.length) }))
    .sort((a, b) => a.medianMs - b.medianMs);
  return { appends: windows.length, entry, leader, medianTotalMs: median(windows.map(([a, b]) => b - a)), rows };
}

export function formatBreakdown(b: Breakdown): string {
  return [
    `where one append's time goes: ${b.appends} appends by 1 client through node ${b.entry} (leader: node ${b.leader}); median total ${b.medianTotalMs.toFixed(3)} ms`,
    alignTable(
      ["step", "node", "ms after gateway in", "+ms", "seen"],
      b.rows.map((r, i) => [
        r.step,
        `${r.node} (${r.role})`,
        r.medianMs.toFixed(3),
        i === 0 ? "" : (r.medianMs - b.rows[i - 1]!.medianMs).toFixed(3),
        `${Math.round(r.seenShare * 100)}%`,
      ]),
    ),
  ].join("\n");
}
