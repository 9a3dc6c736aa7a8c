// The results of `paxos bench`: their JSON shape, the aligned table, the
// paxos/etcd ratios per level and the issue's goals. Pure functions only.

import type { LatencySummary } from "./load.js";
import type { NodeWarmUp, SystemName } from "./clusters.js";
import { formatBreakdown, type Breakdown } from "./breakdown.js";

export interface RunResult {
  system: SystemName;
  /**
   * "level": a fresh cluster, full replies (what a Jepsen run sees: cold);
   * "steady": minimal replies measured after a warm-up on the same cluster;
   * "long": minimal replies as the list grows.
   */
  kind: "level" | "steady" | "long";
  clients: number;
  placement: string;
  /** Index of the leader at the start of the run, and how many client loops talked to it directly (the rest go through a follower). */
  leader: number;
  clientsOnLeader: number;
  /** "full" or "minimal": what the request asked for (etcd's put reply is always small). */
  reply: "full" | "minimal";
  appends: number;
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  elapsedS: number;
  opsPerS: number;
  latencyMs: LatencySummary;
  /** Peak resident set (VmHWM) per node, MB. */
  peakRssMB: (number | null)[];
  /** Resident set (VmRSS) per node at the end of the run, MB. */
  rssAfterMB: (number | null)[];
  /** Bytes sent between nodes, summed over the nodes, per successful append (null: not exported). */
  peerBytesPerAppend: number | null;
  /** fdatasyncs (etcd: WAL fsyncs), summed over the nodes, per successful append. */
  fdatasyncsPerAppend: number | null;
  /** CPU (user + system) per node during the run, as a share of one core (1 = one core busy all the time). */
  cpuCores: (number | null)[];
  /** CPU of the load generator (this process) during the run, as a share of one core. */
  loadGenCpuCores: number;
  /** CPU microseconds (user + system) per successful append, per node: on 2 shared cores, the figure to drive down. */
  cpuUsPerAppend?: (number | null)[];
  /** Steady runs: the appends made before measuring (their segments are marked warmup). */
  warmupAppends?: number;
  /** Body bytes of the replies. */
  replyBytes: { mean: number; max: number; last: number };
  /** Long run only: the run cut into segments, to show per-append costs as the list grows. */
  segments?: SegmentResult[];
  /** Interleaved steady runs: the CPU the other system's idle cluster used during this run's measured segments, in cores. */
  idleNeighbourCores?: number;
  /** paxos: what each node's own warm-up before serving did (a cut or failed one leaves that node slower at first). */
  nodeWarmUps?: NodeWarmUp[];
}

export interface SegmentResult {
  /** Successful appends before this segment (the list length it starts from, on a fresh cluster). */
  startLength: number;
  /** A warm-up segment of a steady run (not in the run's figures). */
  warmup?: boolean;
  /** CPU microseconds per append, summed over the nodes. */
  cpuUsPerAppend?: number | null;
  appends: number;
  opsPerS: number;
  p50Ms: number;
  peerBytesPerAppend: number | null;
  fdatasyncsPerAppend: number | null;
  replyBytesMean: number;
}

export interface Ratio {
  clients: number;
  /** paxos ops/s divided by etcd ops/s (>1: paxos is faster). */
  throughput: number | null;
  /** paxos p50 divided by etcd p50 (<1: paxos is faster). */
  p50: number | null;
  p99: number | null;
}

export interface Goal {
  goal: string;
  met: boolean | null;
  detail: string;
}

export interface BenchReport {
  /** Where one append's time goes (1 client, nodes tracing their steps). */
  breakdown?: Breakdown;
  /** Steady-state runs (after a warm-up), one fresh cluster per client count. */
  steady?: RunResult[];
  meta: {
    date: string;
    host: string;
    cpus: number;
    cpuModel: string;
    memoryGB: number;
    kernel: string;
    node: string;
    etcd: string | null;
    options: Record<string, unknown>;
    notes: string[];
  };
  levels: RunResult[];
  long: RunResult[];
  ratios: Ratio[];
  steadyRatios?: Ratio[];
  longRatio: Ratio | null;
  goals: Goal[];
}

export const MB = 1024 * 1024;

function ratio(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

function ratioOf(p: RunResult, e: RunResult): Ratio {
  return {
    clients: p.clients,
    throughput: ratio(p.opsPerS, e.opsPerS),
    p50: ratio(p.latencyMs.p50, e.latencyMs.p50),
    p99: ratio(p.latencyMs.p99, e.latencyMs.p99),
  };
}

/** paxos/etcd per level (levels matched by client count), in the order of the paxos levels. */
export function computeRatios(levels: readonly RunResult[]): Ratio[] {
  const out: Ratio[] = [];
  for (const p of levels.filter((r) => r.system === "paxos")) {
    const e = levels.find((r) => r.system === "etcd" && r.clients === p.clients && r.kind === p.kind);
    if (e) out.push(ratioOf(p, e));
  }
  return out;
}

export function longRatio(long: readonly RunResult[]): Ratio | null {
  const p = long.find((r) => r.system === "paxos");
  const e = long.find((r) => r.system === "etcd");
  return p && e ? ratioOf(p, e) : null;
}

/** First and last segments' peer bytes per append (the list's start vs its end). */
export function peerBytesGrowth(run: RunResult): { first: number; last: number; ratio: number } | null {
  const segs = run.segments ?? [];
  const first = segs[0]?.peerBytesPerAppend;
  const last = segs[segs.length - 1]?.peerBytesPerAppend;
  if (segs.length < 2 || first === null || first === undefined || last === null || last === undefined || first === 0) return null;
  return { first, last, ratio: last / first };
}

const fmtX = (r: number | null, digits = 2) => (r === null ? "n/a" : `${r.toFixed(digits)}x`);

/** The issue's goals, judged from one run (null: not measured in this run). */
export function evaluateGoals(levels: readonly RunResult[], long: readonly RunResult[], rssLimitMB = 200, steady: readonly RunResult[] = []): Goal[] {
  const ratios = computeRatios(levels);
  const steadyRatios = computeRatios(steady);
  const goals: Goal[] = [];
  const at = (c: number) => ratios.find((r) => r.clients === c);
  const r1 = at(1);
  goals.push({
    goal: "1 client: p50 latency no worse than etcd's",
    met: r1?.p50 === null || r1 === undefined ? null : r1.p50 <= 1,
    detail: r1 ? `paxos/etcd p50 = ${fmtX(r1.p50)}` : "not measured (needs --compare etcd and level 1)",
  });
  for (const c of [32, 128]) {
    const r = steadyRatios.find((x) => x.clients === c);
    goals.push({
      goal: `steady state, ${c} clients: at least 2x etcd's throughput`,
      met: r?.throughput === null || r === undefined ? null : r.throughput >= 2,
      detail: r ? `paxos/etcd ops/s = ${fmtX(r.throughput)}` : `not measured (needs --compare etcd and --steady with ${c})`,
    });
  }
  const cold = at(32);
  goals.push({
    goal: "cold, 32 clients, full replies: at least etcd's throughput",
    met: cold?.throughput === null || cold === undefined ? null : cold.throughput >= 1,
    detail: cold ? `paxos/etcd ops/s = ${fmtX(cold.throughput)}` : "not measured (needs --compare etcd and level 32)",
  });
  const pl = long.find((r) => r.system === "paxos");
  const g = pl ? peerBytesGrowth(pl) : null;
  goals.push({
    goal: "peer bytes per append do not grow with the list",
    met: g === null ? null : g.ratio <= 1.25,
    detail: g
      ? `first segment ${g.first.toFixed(0)} B/append, last ${g.last.toFixed(0)} B/append (${fmtX(g.ratio)}), list ${pl!.segments![0]!.startLength} -> ${pl!.ok}`
      : "not measured (no long run)",
  });
  const rss = pl?.rssAfterMB ?? [];
  const known = rss.filter((v): v is number => v !== null);
  goals.push({
    goal: `RSS after the long run under ${rssLimitMB} MB per node`,
    met: pl === undefined || known.length === 0 ? null : known.every((v) => v < rssLimitMB),
    detail: pl ? `RSS after ${pl.ok} appends: ${known.map((v) => v.toFixed(0)).join(" / ")} MB (peak ${pl.peakRssMB.map((v) => (v === null ? "?" : v.toFixed(0))).join(" / ")} MB)` : "not measured (no long run)",
  });
  return goals;
}

function num(v: number | null, digits: number): string {
  return v === null || !Number.isFinite(v) ? "n/a" : v.toFixed(digits);
}

/** Right-aligned columns (the first column left-aligned), a header and a rule. */
export function alignTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const RUN_HEADER = [
  "system", "run", "clients", "on leader", "appends", "errors", "ops/s", "p50 ms", "p99 ms", "max ms",
  "peak RSS MB/node", "CPU cores/node", "CPU us/append/node", "peer B/append", "fsync/append", "reply B mean", "reply B max",
];

function runRow(r: RunResult): string[] {
  return [
    r.system,
    `${r.kind}/${r.reply}`,
    String(r.clients),
    String(r.clientsOnLeader ?? "?"),
    String(r.ok),
    String(r.errors),
    r.opsPerS.toFixed(0),
    r.latencyMs.p50.toFixed(2),
    r.latencyMs.p99.toFixed(2),
    r.latencyMs.max.toFixed(1),
    r.peakRssMB.map((v) => num(v, 0)).join("/"),
    [...(r.cpuCores ?? []).map((v) => num(v, 2)), `gen ${num(r.loadGenCpuCores ?? null, 2)}`].join("/"),
    (r.cpuUsPerAppend ?? []).map((v) => num(v, 0)).join("/") || "n/a",
    num(r.peerBytesPerAppend, 0),
    num(r.fdatasyncsPerAppend, 3),
    r.replyBytes.mean.toFixed(0),
    String(r.replyBytes.max),
  ];
}

export function formatRuns(runs: readonly RunResult[]): string {
  return alignTable(RUN_HEADER, runs.map(runRow));
}

export function formatRatios(ratios: readonly Ratio[], long: Ratio | null, steady: readonly Ratio[] = []): string {
  const rows = ratios.map((r) => [`level ${r.clients}`, fmtX(r.throughput), fmtX(r.p50), fmtX(r.p99)]);
  for (const r of steady) rows.push([`steady ${r.clients}`, fmtX(r.throughput), fmtX(r.p50), fmtX(r.p99)]);
  if (long) rows.push([`long ${long.clients}`, fmtX(long.throughput), fmtX(long.p50), fmtX(long.p99)]);
  return alignTable(["paxos/etcd", "ops/s", "p50", "p99"], rows);
}

export function formatSegments(run: RunResult): string {
  const segs = run.segments ?? [];
  return alignTable(
    ["list from", "appends", "ops/s", "p50 ms", "CPU us/append", "peer B/append", "fsync/append", "reply B mean"],
    segs.map((s) => [
      `${s.startLength}${s.warmup ? " (warm-up)" : ""}`,
      String(s.appends),
      s.opsPerS.toFixed(0),
      s.p50Ms.toFixed(2),
      num(s.cpuUsPerAppend ?? null, 0),
      num(s.peerBytesPerAppend, 0),
      num(s.fdatasyncsPerAppend, 3),
      s.replyBytesMean.toFixed(0),
    ]),
  );
}

export function formatGoals(goals: readonly Goal[]): string {
  return goals.map((g) => `${g.met === null ? "[ n/a ]" : g.met ? "[ met ]" : "[ MISS]"} ${g.goal}: ${g.detail}`).join("\n");
}

/** The whole report as text, as printed at the end of a run. */
export function formatReport(rep: BenchReport): string {
  const m = rep.meta;
  const parts = [
    `paxos bench, ${m.date}, ${m.host}: ${m.cpus} x ${m.cpuModel}, ${m.memoryGB.toFixed(0)} GB, Linux ${m.kernel}, Node ${m.node}${m.etcd ? `, etcd ${m.etcd}` : ""}`,
    "",
    formatRuns([...rep.levels, ...(rep.steady ?? []), ...rep.long]),
  ];
  const steadyRatios = rep.steadyRatios ?? [];
  if (rep.ratios.length > 0 || rep.longRatio || steadyRatios.length > 0) parts.push("", formatRatios(rep.ratios, rep.longRatio, steadyRatios));
  for (const r of (rep.steady ?? []).filter((l) => (l.segments?.length ?? 0) > 0)) {
    parts.push("", `${r.system} steady run by segment (${r.clients} clients, ${r.warmupAppends ?? 0} warm-up appends first):`, formatSegments(r));
  }
  for (const r of rep.long.filter((l) => (l.segments?.length ?? 0) > 0)) {
    parts.push("", `${r.system} long run by segment (${r.clients} clients, ${r.reply} replies):`, formatSegments(r));
  }
  if (rep.breakdown !== undefined) parts.push("", formatBreakdown(rep.breakdown));
  parts.push("", "goals:", formatGoals(rep.goals));
  if (m.notes.length > 0) parts.push("", ...m.notes.map((n) => `note: ${n}`));
  return parts.join("\n");
}

/**
 * One note line on the paxos nodes' own warm-ups before the cold levels: scratch appends per node,
 * and whether one was cut short by its time budget or failed (that node then began slower).
 * null when no paxos level recorded any.
 */
export function coldWarmUpNote(levels: readonly RunResult[], askedAppends: number): string | null {
  const parts: string[] = [];
  for (const r of levels) {
    if (r.system !== "paxos" || r.kind !== "level" || r.nodeWarmUps === undefined) continue;
    const ran = r.nodeWarmUps.filter((w): w is Extract<NodeWarmUp, { ms: number }> => w !== null && "ms" in w);
    const failed = r.nodeWarmUps.filter((w): w is Extract<NodeWarmUp, { failed: string }> => w !== null && "failed" in w);
    const perNode = r.nodeWarmUps.map((w) => (w === null ? "none" : "failed" in w ? "failed" : String(w.appends))).join(" / ");
    const secs = ran.map((w) => w.ms / 1000);
    const span = secs.length === 0 ? "" : ` in ${Math.min(...secs).toFixed(1)}-${Math.max(...secs).toFixed(1)} s`;
    const flags: string[] = [];
    if (ran.some((w) => w.appends < askedAppends)) flags.push("cut short by its time budget");
    const retries = ran.reduce((n, w) => n + w.portRetries, 0);
    if (retries > 0) flags.push(`${retries} round(s) rerun on other ports`);
    if (failed.length > 0) flags.push(`failed, served cold: ${failed[0]!.failed}`);
    parts.push(`${r.clients} client${r.clients === 1 ? "" : "s"}: ${perNode}${span}${flags.length > 0 ? ` (${flags.join("; ")})` : ""}`);
  }
  if (parts.length === 0) return null;
  return `paxos nodes' own warm-up before serving, scratch appends per node (of ${askedAppends}): ${parts.join("; ")}`;
}
