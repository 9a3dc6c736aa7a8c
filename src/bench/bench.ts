// `paxos bench`: the sweep (one fresh 3-node cluster per level, so every level
// starts from an empty list, full replies), then the long run with minimal
// replies, cut into segments to show what an append costs as the list grows;
// the same load against a 3-member etcd with --compare etcd. Prints a table
// and writes everything as JSON.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, hostname, release, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { etcdVersion, PaxosCluster, startCluster, type BenchCluster, type ClusterCounters, type SystemName } from "./clusters.js";
import { formatBreakdown, lineUpSteps, type Breakdown, type NodeTrace } from "./breakdown.js";
import { etcdWorkload, LoadDriver, paxosWorkload, summarize, warmLoadGenerator, type LoadResult, type Placement, type Workload } from "./load.js";
import { DEFAULT_WARM_UP } from "../node/warm-up.js";
import {
  MB,
  coldWarmUpNote,
  computeRatios,
  evaluateGoals,
  formatReport,
  formatRuns,
  longRatio,
  type BenchReport,
  type RunResult,
  type SegmentResult,
} from "./report.js";

export interface BenchConfig {
  /** Client counts of the sweep, one fresh cluster each. */
  levels: number[];
  /** Appends per level. */
  appends: number;
  /** Appends of the 1-client level (the latency goal is stated for 1,000 from a fresh cluster). */
  oneClientAppends: number;
  /** Appends of the long run (0: no long run). */
  longAppends: number;
  longClients: number;
  /** The long run is measured in this many segments (first vs last shows growth). */
  longSegments: number;
  /** Client counts of the steady-state runs (minimal replies, measured after a warm-up), one fresh cluster each. */
  steadyLevels: number[];
  /** Appends before a steady run is measured. */
  steadyWarmup: number;
  /** Appends measured in a steady run. */
  steadyAppends: number;
  /** Appends of the 1-client step breakdown (0: none). */
  breakdown: number;
  compare: "etcd" | null;
  etcdBin: string;
  /** Directory for the JSON results. */
  outDir: string;
  placement: Placement;
  /** When set, paxos nodes run with --cpu-prof and write profiles under this directory. */
  profileDir: string | null;
  /** Per-request timeout of the load generator. */
  timeoutMs: number;
  /** Keep the clusters' data directories (under the OS temp dir). */
  keepData: boolean;
  /** Warm the load generator up on an in-process server before the first measured run (warmLoadGenerator). */
  warmClient: boolean;
  log: (line: string) => void;
  /** Told of the runs as they go, for a progress display (paxos bench: on stderr). */
  progress?: BenchProgress;
}

export interface BenchProgress {
  /** Once, before the first run: the runs (one cluster each) and the requests of them all. */
  plan(runs: number, requests: number): void;
  /** A run's load starts; requests() counts the requests it has sent so far. */
  run(label: string, requests: () => number): void;
  /** That run is over. */
  runDone(): void;
}

/** Requests sent so far by the workloads of one progress entry (one run, or an interleaved pair). */
interface RequestCount {
  n: number;
}

/** Tells cfg.progress of a run (or an interleaved pair of them) and returns the count its workloads add to. */
function trackRun(cfg: BenchConfig, label: string): RequestCount {
  const count = { n: 0 };
  cfg.progress?.run(label, () => count.n);
  return count;
}

/** The workload, counting its requests (one increment per request). */
function counted(w: Workload, count: RequestCount): Workload {
  return { name: w.name, request: (c, seq, payload) => (count.n++, w.request(c, seq, payload)) };
}

export const DEFAULT_CONFIG: Omit<BenchConfig, "log"> = {
  levels: [1, 5, 32, 128],
  appends: 5000,
  oneClientAppends: 1000,
  longAppends: 100_000,
  longClients: 32,
  longSegments: 10,
  steadyLevels: [32, 128],
  steadyWarmup: 20_000,
  steadyAppends: 20_000,
  breakdown: 1000,
  compare: null,
  etcdBin: "etcd",
  outDir: "bench-results",
  placement: "spread",
  profileDir: null,
  timeoutMs: 30_000,
  keepData: false,
  warmClient: true,
};

/** --quick: a tiny run for CI (seconds, not minutes). */
export const QUICK: Partial<BenchConfig> = {
  levels: [1, 4],
  appends: 100,
  oneClientAppends: 100,
  longAppends: 300,
  longClients: 4,
  longSegments: 3,
  steadyLevels: [4],
  steadyWarmup: 200,
  steadyAppends: 200,
  breakdown: 50,
};

const toMB = (b: number | null) => (b === null ? null : b / MB);

function delta(after: number | null, before: number | null, per: number): number | null {
  if (after === null || before === null || per <= 0) return null;
  return (after - before) / per;
}

let runCounter = 0;

export interface RunSpec {
  system: SystemName;
  kind: "level" | "steady" | "long";
  /** Appends made (in segments) before anything is measured. */
  warmup?: number;
  clients: number;
  appends: number;
  minimal: boolean;
  segments: number;
}

/** `total` appends cut into `parts` segments; the last takes the remainder. */
function split(total: number, parts: number): number[] {
  const each = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => (i === parts - 1 ? total - each * (parts - 1) : each));
}

/** CPU seconds summed over a cluster's nodes, null when a node's CPU could not be read. */
function cpuSum(xs: (number | null)[]): number | null {
  return xs.includes(null) ? null : (xs as number[]).reduce((a, c) => a + c, 0);
}

/** A running total plus what a counter moved by; null once any reading failed. */
function accumulate(total: number | null, after: number | null, before: number | null): number | null {
  return total === null || after === null || before === null ? null : total + (after - before);
}

/** One row of a run's per-segment table; `counters` (scraped before and after) only for measured segments. */
function segmentRow(
  startLength: number,
  r: LoadResult,
  cpu: { before: (number | null)[]; after: (number | null)[] },
  counters: { before: ClusterCounters; after: ClusterCounters } | null,
): SegmentResult {
  const cpuUs = delta(cpuSum(cpu.after), cpuSum(cpu.before), r.ok);
  return {
    startLength,
    ...(counters === null ? { warmup: true } : {}),
    appends: r.ok,
    opsPerS: r.ok / (r.elapsedMs / 1000),
    p50Ms: summarize(r.latenciesMs).p50,
    cpuUsPerAppend: cpuUs === null ? null : cpuUs * 1e6,
    peerBytesPerAppend: counters === null ? null : delta(counters.after.peerBytes, counters.before.peerBytes, r.ok),
    fdatasyncsPerAppend: counters === null ? null : delta(counters.after.fdatasyncs, counters.before.fdatasyncs, r.ok),
    replyBytesMean: r.ok > 0 ? r.replyBytesTotal / r.ok : 0,
  };
}

/**
 * One system's cluster under one load: started, warmed up, then measured
 * segment by segment. The run's figures are sums over its own measured
 * segments only, so that another system's segments can run in between
 * (interleaved steady runs) without being counted.
 */
class RunSession {
  private readonly results: LoadResult[] = [];
  private readonly segments: SegmentResult[] = [];
  private warmed = 0;
  private done = 0;
  private wallS = 0;
  private genCpuUs = 0;
  /** Per node: CPU seconds over the measured segments (null once a read failed). */
  private readonly nodeCpuS: (number | null)[];
  private fdatasyncs: number | null = 0;
  private peerBytes: number | null = 0;
  private lastCounters: ClusterCounters | null = null;
  /** CPU seconds the other sessions' clusters used (paused, so none) during this one's measured segments. */
  private neighbourCpuS: number | null = 0;
  private hadNeighbours = false;

  private constructor(
    private readonly cfg: BenchConfig,
    private readonly spec: RunSpec,
    readonly label: string,
    readonly cluster: BenchCluster,
    private readonly leader: number,
    private readonly driver: LoadDriver,
  ) {
    this.nodeCpuS = cluster.pids.map(() => 0);
  }

  /** Starts the system's cluster and the load generator's pools; its requests count into `count`. */
  static async open(cfg: BenchConfig, spec: RunSpec, count: RequestCount): Promise<RunSession> {
    const label = `${spec.system}-${spec.kind}-${spec.clients}c-${++runCounter}`;
    const nodeArgs =
      cfg.profileDir !== null && spec.system === "paxos" ? ["--cpu-prof", "--cpu-prof-dir", resolve(cfg.profileDir, label)] : undefined;
    const cluster: BenchCluster = await startCluster(spec.system, { nodeArgs, etcdBin: cfg.etcdBin, keepData: cfg.keepData });
    try {
      const leader = await cluster.leaderIndex();
      if (cfg.profileDir !== null && spec.system === "paxos") {
        cfg.log(`  ${label}: leader is node ${leader} (pid ${cluster.pids[leader]}); profiles in ${resolve(cfg.profileDir, label)}`);
      }
      const origins = cfg.placement === "leader" ? [cluster.origins[leader]!] : cluster.origins;
      const workload = counted(spec.system === "paxos" ? paxosWorkload(spec.minimal) : etcdWorkload(), count);
      return new RunSession(cfg, spec, label, cluster, leader, new LoadDriver(origins, workload, spec.clients));
    } catch (e) {
      await cluster.stop();
      throw withLogs(e, cluster);
    }
  }

  /** The warm-up's segment sizes: up to 4, that show when the speed stops rising. */
  warmupSegments(): number[] {
    const w = this.spec.warmup ?? 0;
    return w > 0 ? split(w, Math.min(4, w)) : [];
  }

  measuredSegments(): number[] {
    return split(this.spec.appends, Math.max(1, Math.min(this.spec.segments, this.spec.appends)));
  }

  /** Warm-up segment `s` (steady runs): the same load, not in the run's figures. */
  async warmUp(s: number, count: number): Promise<void> {
    const before = this.cluster.cpuSeconds();
    const r = await this.driver.run({ clients: this.spec.clients, total: count, clientIdBase: 1_000_000 + s * this.spec.clients, timeoutMs: this.cfg.timeoutMs });
    this.segments.push(segmentRow(this.warmed, r, { before, after: this.cluster.cpuSeconds() }, null));
    this.warmed += r.ok;
    this.done = this.warmed;
  }

  /** Measured segment `s`; `neighbours`: the other sessions, paused meanwhile, whose CPU is noted. */
  async measure(s: number, count: number, neighbours: readonly RunSession[] = []): Promise<void> {
    const before = await this.cluster.scrape();
    const cpu0 = this.cluster.cpuSeconds();
    const idle0 = neighbours.map((n) => cpuSum(n.cluster.cpuSeconds()));
    const gen0 = process.cpuUsage();
    const wall0 = performance.now();
    const r = await this.driver.run({ clients: this.spec.clients, total: count, clientIdBase: 1 + s * this.spec.clients, timeoutMs: this.cfg.timeoutMs });
    const wallS = (performance.now() - wall0) / 1000;
    const gen = process.cpuUsage(gen0);
    const idle1 = neighbours.map((n) => cpuSum(n.cluster.cpuSeconds()));
    const cpu1 = this.cluster.cpuSeconds();
    const after = await this.cluster.scrape();
    this.results.push(r);
    this.wallS += wallS;
    this.genCpuUs += gen.user + gen.system;
    cpu1.forEach((c, i) => (this.nodeCpuS[i] = accumulate(this.nodeCpuS[i] ?? null, c, cpu0[i] ?? null)));
    if (neighbours.length > 0) this.hadNeighbours = true;
    idle1.forEach((c, i) => (this.neighbourCpuS = accumulate(this.neighbourCpuS, c, idle0[i] ?? null)));
    this.fdatasyncs = accumulate(this.fdatasyncs, after.fdatasyncs, before.fdatasyncs);
    this.peerBytes = accumulate(this.peerBytes, after.peerBytes, before.peerBytes);
    this.lastCounters = after;
    if (this.measuredSegments().length > 1) this.segments.push(segmentRow(this.done, r, { before: cpu0, after: cpu1 }, { before, after }));
    this.done += r.ok;
  }

  /** The run's figures, over its measured segments. */
  result(): RunResult {
    const { spec, cfg, results } = this;
    const mem = this.cluster.memory();
    const ok = results.reduce((a, r) => a + r.ok, 0);
    const errors = results.reduce((a, r) => a + r.errors, 0);
    const elapsedMs = results.reduce((a, r) => a + r.elapsedMs, 0);
    const lat = new Float64Array(ok);
    let off = 0;
    for (const r of results) {
      lat.set(r.latenciesMs, off);
      off += r.latenciesMs.length;
    }
    const errorKinds: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
    const replyTotal = results.reduce((a, r) => a + r.replyBytesTotal, 0);
    const wallS = this.wallS;
    const w = spec.warmup ?? 0;
    const warmUps = this.cluster.warmUps();
    if (errors > 0) cfg.log(`  ${this.label}: ${errors} errors: ${JSON.stringify(errorKinds)}`);
    return {
      system: spec.system,
      kind: spec.kind,
      clients: spec.clients,
      placement: cfg.placement,
      leader: this.leader,
      clientsOnLeader:
        cfg.placement === "leader" ? spec.clients : Array.from({ length: spec.clients }, (_, i) => i % this.cluster.size).filter((k) => k === this.leader).length,
      reply: spec.minimal ? "minimal" : "full",
      appends: spec.appends,
      ok,
      errors,
      errorKinds,
      elapsedS: elapsedMs / 1000,
      opsPerS: elapsedMs > 0 ? ok / (elapsedMs / 1000) : 0,
      latencyMs: summarize(lat),
      peakRssMB: mem.map((m) => toMB(m.peakRssBytes)),
      rssAfterMB: mem.map((m, i) => toMB(m.rssBytes ?? this.lastCounters?.rssBytes[i] ?? null)),
      peerBytesPerAppend: delta(this.peerBytes, 0, ok),
      fdatasyncsPerAppend: delta(this.fdatasyncs, 0, ok),
      cpuCores: this.nodeCpuS.map((c) => (c === null || wallS <= 0 ? null : c / wallS)),
      loadGenCpuCores: wallS > 0 ? this.genCpuUs / 1e6 / wallS : 0,
      cpuUsPerAppend: this.nodeCpuS.map((c) => (c === null || ok <= 0 ? null : (c * 1e6) / ok)),
      ...(w > 0 ? { warmupAppends: this.warmed } : {}),
      replyBytes: {
        mean: ok > 0 ? replyTotal / ok : 0,
        max: Math.max(0, ...results.map((r) => r.replyBytesMax)),
        last: results[results.length - 1]?.replyBytesLast ?? 0,
      },
      ...(this.segments.length > 0 ? { segments: this.segments } : {}),
      ...(this.hadNeighbours && this.neighbourCpuS !== null && wallS > 0 ? { idleNeighbourCores: this.neighbourCpuS / wallS } : {}),
      ...(warmUps.some((x) => x !== null) ? { nodeWarmUps: warmUps } : {}),
    };
  }

  async close(): Promise<void> {
    try {
      await this.driver.close();
    } finally {
      await this.cluster.stop();
    }
  }
}

/** A failed run's error, with the tail of its cluster's logs. */
function withLogs(e: unknown, cluster: BenchCluster): unknown {
  if (e instanceof Error) e.message += `\n${cluster.tailLogs()}`;
  return e;
}

/** One run on a fresh cluster: warm-up (if any), then the measured segments. */
async function measure(cfg: BenchConfig, spec: RunSpec): Promise<RunResult> {
  const session = await RunSession.open(cfg, spec, trackRun(cfg, `${spec.system}-${spec.kind}-${spec.clients}c`));
  try {
    for (const [s, count] of session.warmupSegments().entries()) await session.warmUp(s, count);
    for (const [s, count] of session.measuredSegments().entries()) await session.measure(s, count);
    return session.result();
  } catch (e) {
    throw withLogs(e, session.cluster);
  } finally {
    await session.close();
    cfg.progress?.runDone();
  }
}

/** One step of an interleaved run: session `session` runs its warm-up or measured segment `s` of `count` appends. */
export interface InterleavedStep {
  readonly session: number;
  readonly kind: "warm-up" | "measure";
  readonly s: number;
  readonly count: number;
}

/**
 * The order of an interleaved run's segments, given each session's warm-up
 * and measured segment sizes: all warm-up before any measuring, and in
 * segment s the sessions take turns going first (A B, B A, A B, ...), so
 * that none is always the one measured just after the other's load.
 */
export function interleavedSchedule(warm: readonly (readonly number[])[], measured: readonly (readonly number[])[]): InterleavedStep[] {
  const steps: InterleavedStep[] = [];
  const phase = (kind: InterleavedStep["kind"], sizes: readonly (readonly number[])[]) => {
    for (let s = 0; s < Math.max(0, ...sizes.map((x) => x.length)); s++) {
      const order = sizes.map((_, i) => i);
      if (s % 2 === 1) order.reverse();
      for (const session of order) if (s < sizes[session]!.length) steps.push({ session, kind, s, count: sizes[session]![s]! });
    }
  };
  phase("warm-up", warm);
  phase("measure", measured);
  return steps;
}

/**
 * Steady runs of several systems side by side: every cluster started and
 * warmed up, then their measured segments alternate, so that a change in
 * the machine's speed (this VM's moves by a third within an hour) falls on
 * every system alike instead of on whichever ran later. While one runs
 * the others' processes are stopped (their CPU meanwhile is reported).
 */
export async function measureInterleaved(cfg: BenchConfig, specs: readonly RunSpec[]): Promise<RunResult[]> {
  const count = trackRun(cfg, `steady-${specs[0]!.clients}c ${specs.map((x) => x.system).join("+")} interleaved`);
  const sessions: RunSession[] = [];
  let threw = false;
  try {
    for (const spec of specs) sessions.push(await RunSession.open(cfg, spec, count));
    const schedule = interleavedSchedule(
      sessions.map((x) => x.warmupSegments()),
      sessions.map((x) => x.measuredSegments()),
    );
    // Only the session whose step it is runs; the others' clusters are stopped meanwhile (SIGSTOP), so
    // they take no CPU from it (idle, a paxos cluster used ~0.08 cores and etcd's ~0.04).
    let running = -1;
    for (const step of schedule) {
      const x = sessions[step.session]!;
      if (running !== step.session) {
        for (const other of sessions) if (other !== x) await other.cluster.pause();
        await x.cluster.resume();
        running = step.session;
      }
      if (step.kind === "warm-up") await x.warmUp(step.s, step.count);
      else await x.measure(step.s, step.count, sessions.filter((other) => other !== x));
    }
    return sessions.map((x) => x.result());
  } catch (e) {
    threw = true;
    for (const x of sessions) withLogs(e, x.cluster);
    throw e;
  } finally {
    // Every session is closed even if one's close fails; a close failure is reported only if nothing failed before it.
    const closed = await Promise.allSettled(sessions.map((x) => x.close()));
    cfg.progress?.runDone();
    const failed = closed.find((c): c is PromiseRejectedResult => c.status === "rejected");
    if (failed !== undefined && !threw) throw failed.reason;
  }
}

/** What the report says of interleaved steady runs, with the idle clusters' CPU as measured. */
function steadyInterleavedNote(steady: readonly RunResult[]): string {
  const idle = steady
    .filter((r) => r.idleNeighbourCores !== undefined)
    .map((r) => `${r.clients} clients, while ${r.system} ran: ${r.idleNeighbourCores!.toFixed(3)}`)
    .join("; ");
  return (
    "steady runs: both systems' clusters up side by side, warmed up, then their measured segments alternate " +
    `(A B, B A, ...), so a change in the machine's speed falls on both; the other's processes are stopped (SIGSTOP) meanwhile, their CPU in cores: ${idle || "n/a"}`
  );
}

/** One client, `appends` full-reply appends through node 0, nodes tracing their steps: where the time goes. */
async function measureBreakdown(cfg: BenchConfig): Promise<Breakdown> {
  const dir = mkdtempSync(join(tmpdir(), "paxos-breakdown-"));
  const file = (i: number) => join(dir, `steps-${i}.json`);
  const cluster = await PaxosCluster.start({ paxosArgs: (i) => ["--trace-steps", file(i)], keepData: cfg.keepData });
  let driver: LoadDriver | null = null;
  try {
    const leader = await cluster.leaderIndex();
    driver = new LoadDriver([cluster.origins[0]!], counted(paxosWorkload(false), trackRun(cfg, "breakdown")), 1);
    const r = await driver.run({ clients: 1, total: cfg.breakdown, clientIdBase: 1, timeoutMs: cfg.timeoutMs });
    if (r.errors > 0) throw new Error(`${r.errors} of the breakdown's appends failed: ${JSON.stringify(r.errorKinds)}`);
    await driver.close();
    driver = null;
    await cluster.stop(); // SIGTERM: each node writes its steps
    const traces = [0, 1, 2].map((i) => JSON.parse(readFileSync(file(i), "utf8")) as NodeTrace);
    return lineUpSteps(traces, 0, leader);
  } finally {
    await driver?.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    cfg.progress?.runDone();
  }
}

/** Appends of the sweep's level with this many clients. */
function appendsAt(cfg: BenchConfig, clients: number): number {
  return clients === 1 ? cfg.oneClientAppends : cfg.appends;
}

function timestamp(d: Date): string {
  return d.toISOString().replace(/[:]/g, "-").replace(/\.\d+Z$/, "Z");
}

export async function runBenchmark(cfg: BenchConfig): Promise<{ report: BenchReport; jsonPath: string }> {
  const started = new Date();
  const systems: SystemName[] = ["paxos"];
  const notes: string[] = [
    "each level runs on a fresh cluster (empty list, fresh data directories); the load generator shares the machine with the nodes",
    "reply bytes are HTTP body bytes; peer bytes and fsyncs are summed over the 3 nodes and divided by successful appends",
  ];
  let etcdVer: string | null = null;
  if (cfg.compare === "etcd") {
    etcdVer = etcdVersion(cfg.etcdBin);
    if (etcdVer === null) {
      cfg.log(`bench: --compare etcd: cannot run '${cfg.etcdBin}' (Debian: apt-get install etcd-server); measuring paxos alone`);
      notes.push(`etcd was requested but '${cfg.etcdBin}' could not be run`);
    } else {
      systems.push("etcd");
      notes.push("etcd: PUT of a fresh key per request through the v3 JSON gateway; fsyncs = etcd_disk_wal_fsync_duration_seconds_count, peer bytes = etcd_network_peer_sent_bytes_total");
    }
  }

  const levels: RunResult[] = [];
  // Steady runs of two systems are interleaved (measureInterleaved): one progress entry per level.
  const interleave = systems.length > 1;
  const sets = cfg.levels.length + (cfg.longAppends > 0 ? 1 : 0);
  cfg.progress?.plan(
    sets * systems.length + cfg.steadyLevels.length * (interleave ? 1 : systems.length) + (cfg.breakdown > 0 ? 1 : 0),
    systems.length * (cfg.levels.reduce((n, c) => n + appendsAt(cfg, c), 0) + cfg.steadyLevels.length * (cfg.steadyWarmup + cfg.steadyAppends) + cfg.longAppends) + cfg.breakdown,
  );
  const long: RunResult[] = [];
  const progress = (r: RunResult) => cfg.log(formatRuns([r]).split("\n")[2]!);
  if (cfg.warmClient) {
    await warmLoadGenerator();
    notes.push("the load generator warmed up on an in-process server first, so the first system measured does not pay for its cold start");
  }
  cfg.log(formatRuns([]).split("\n").slice(0, 2).join("\n"));
  for (const clients of cfg.levels) {
    for (const system of systems) {
      const r = await measure(cfg, { system, kind: "level", clients, appends: appendsAt(cfg, clients), minimal: false, segments: 1 });
      levels.push(r);
      progress(r);
    }
  }
  const warmUpNote = coldWarmUpNote(levels, DEFAULT_WARM_UP.appends);
  if (warmUpNote !== null) notes.push(warmUpNote);
  let breakdown: Breakdown | undefined;
  if (cfg.breakdown > 0) {
    breakdown = await measureBreakdown(cfg);
    cfg.log(formatBreakdown(breakdown).split("\n")[0]!);
  }
  const steady: RunResult[] = [];
  for (const clients of cfg.steadyLevels) {
    const specs = systems.map((system): RunSpec => ({ system, kind: "steady", clients, appends: cfg.steadyAppends, minimal: true, segments: 4, warmup: cfg.steadyWarmup }));
    const runs = interleave ? await measureInterleaved(cfg, specs) : [await measure(cfg, specs[0]!)];
    for (const r of runs) {
      steady.push(r);
      progress(r);
    }
  }
  if (interleave) notes.push(steadyInterleavedNote(steady));
  if (cfg.longAppends > 0) {
    for (const system of systems) {
      const r = await measure(cfg, {
        system,
        kind: "long",
        clients: cfg.longClients,
        appends: cfg.longAppends,
        minimal: true,
        segments: cfg.longSegments,
      });
      long.push(r);
      progress(r);
    }
  }

  const pl = long.find((r) => r.system === "paxos");
  if (pl && pl.replyBytes.mean > 100) {
    notes.push(
      `the server did not honour 'Prefer: return=minimal' (mean reply ${pl.replyBytes.mean.toFixed(0)} B, last ${pl.replyBytes.last} B): the long run measured full-list replies`,
    );
  }

  const cpu = cpus();
  const report: BenchReport = {
    meta: {
      date: started.toISOString(),
      host: hostname(),
      cpus: cpu.length,
      cpuModel: cpu[0]?.model.trim() ?? "unknown",
      memoryGB: totalmem() / 1024 ** 3,
      kernel: release(),
      node: process.version,
      etcd: etcdVer,
      options: {
        levels: cfg.levels,
        appends: cfg.appends,
        longAppends: cfg.longAppends,
        longClients: cfg.longClients,
        longSegments: cfg.longSegments,
        steadyLevels: cfg.steadyLevels,
        steadyWarmup: cfg.steadyWarmup,
        steadyAppends: cfg.steadyAppends,
        breakdown: cfg.breakdown,
        compare: cfg.compare,
        placement: cfg.placement,
        profile: cfg.profileDir !== null,
        timeoutMs: cfg.timeoutMs,
      },
      notes,
    },
    levels,
    steady,
    long,
    ratios: computeRatios(levels),
    steadyRatios: computeRatios(steady),
    ...(breakdown === undefined ? {} : { breakdown }),
    longRatio: longRatio(long),
    goals: evaluateGoals(levels, long, undefined, steady),
  };
  mkdirSync(cfg.outDir, { recursive: true });
  const jsonPath = resolve(join(cfg.outDir, `bench-${timestamp(started)}.json`));
  writeFileSync(jsonPath, JSON.stringify(report, null, 2) + "\n");
  cfg.log("");
  cfg.log(formatReport(report));
  cfg.log("");
  cfg.log(`bench: results written to ${jsonPath}`);
  return { report, jsonPath };
}
