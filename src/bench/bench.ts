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
import {
  MB,
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

/** The workload, counting its requests for cfg.progress (one increment per request). */
function tracked(cfg: BenchConfig, label: string, w: Workload): Workload {
  if (cfg.progress === undefined) return w;
  let n = 0;
  cfg.progress.run(label, () => n);
  return { name: w.name, request: (c, seq, payload) => (n++, w.request(c, seq, payload)) };
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

interface RunSpec {
  system: SystemName;
  kind: "level" | "steady" | "long";
  /** Appends made (in segments) before anything is measured. */
  warmup?: number;
  clients: number;
  appends: number;
  minimal: boolean;
  segments: number;
}

async function measure(cfg: BenchConfig, spec: RunSpec): Promise<RunResult> {
  const label = `${spec.system}-${spec.kind}-${spec.clients}c-${++runCounter}`;
  const nodeArgs =
    cfg.profileDir !== null && spec.system === "paxos" ? ["--cpu-prof", "--cpu-prof-dir", resolve(cfg.profileDir, label)] : undefined;
  const cluster: BenchCluster = await startCluster(spec.system, { nodeArgs, etcdBin: cfg.etcdBin, keepData: cfg.keepData });
  let driver: LoadDriver | null = null;
  try {
    const leader = await cluster.leaderIndex();
    if (cfg.profileDir !== null && spec.system === "paxos") {
      cfg.log(`  ${label}: leader is node ${leader} (pid ${cluster.pids[leader]}); profiles in ${resolve(cfg.profileDir, label)}`);
    }
    const origins = cfg.placement === "leader" ? [cluster.origins[leader]!] : cluster.origins;
    const workload = tracked(cfg, label, spec.system === "paxos" ? paxosWorkload(spec.minimal) : etcdWorkload());
    driver = new LoadDriver(origins, workload, spec.clients);

    const results: LoadResult[] = [];
    const segments: SegmentResult[] = [];
    /** CPU microseconds per append, summed over the nodes (null when a node's CPU could not be read). */
    const cpuUs = (after: (number | null)[], before: (number | null)[], per: number): number | null => {
      const sum = (xs: (number | null)[]) => (xs.includes(null) ? null : (xs as number[]).reduce((a, c) => a + c, 0));
      const a = sum(after);
      const b = sum(before);
      return a === null || b === null || per <= 0 ? null : ((a - b) * 1e6) / per;
    };
    // Warm-up (steady runs): the same load, in segments that show when the speed stops rising; not measured.
    let warmed = 0;
    const w = spec.warmup ?? 0;
    const ws = Math.min(4, Math.max(1, w));
    for (let s = 0; s < ws && w > 0; s++) {
      const count = s === ws - 1 ? w - Math.floor(w / ws) * (ws - 1) : Math.floor(w / ws);
      const c0 = cluster.cpuSeconds();
      const r = await driver.run({ clients: spec.clients, total: count, clientIdBase: 1_000_000 + s * spec.clients, timeoutMs: cfg.timeoutMs });
      segments.push({
        startLength: warmed,
        warmup: true,
        appends: r.ok,
        opsPerS: r.ok / (r.elapsedMs / 1000),
        p50Ms: summarize(r.latenciesMs).p50,
        cpuUsPerAppend: cpuUs(cluster.cpuSeconds(), c0, r.ok),
        peerBytesPerAppend: null,
        fdatasyncsPerAppend: null,
        replyBytesMean: r.ok > 0 ? r.replyBytesTotal / r.ok : 0,
      });
      warmed += r.ok;
    }
    const first = await cluster.scrape();
    const cpu0 = cluster.cpuSeconds();
    const gen0 = process.cpuUsage();
    const wall0 = performance.now();
    let before: ClusterCounters = first;
    let cpuBefore = cpu0;
    let done = warmed;
    const n = Math.max(1, Math.min(spec.segments, spec.appends));
    for (let s = 0; s < n; s++) {
      const count = s === n - 1 ? spec.appends - Math.floor(spec.appends / n) * (n - 1) : Math.floor(spec.appends / n);
      const r = await driver.run({ clients: spec.clients, total: count, clientIdBase: 1 + s * spec.clients, timeoutMs: cfg.timeoutMs });
      const after = await cluster.scrape();
      const cpuAfter = cluster.cpuSeconds();
      results.push(r);
      if (n > 1) {
        segments.push({
          startLength: done,
          appends: r.ok,
          opsPerS: r.ok / (r.elapsedMs / 1000),
          p50Ms: summarize(r.latenciesMs).p50,
          cpuUsPerAppend: cpuUs(cpuAfter, cpuBefore, r.ok),
          peerBytesPerAppend: delta(after.peerBytes, before.peerBytes, r.ok),
          fdatasyncsPerAppend: delta(after.fdatasyncs, before.fdatasyncs, r.ok),
          replyBytesMean: r.ok > 0 ? r.replyBytesTotal / r.ok : 0,
        });
      }
      done += r.ok;
      before = after;
      cpuBefore = cpuAfter;
    }
    const last = before;
    const mem = cluster.memory();
    const cpu1 = cluster.cpuSeconds();
    const gen = process.cpuUsage(gen0);
    const wallS = (performance.now() - wall0) / 1000;

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
    const run: RunResult = {
      system: spec.system,
      kind: spec.kind,
      clients: spec.clients,
      placement: cfg.placement,
      leader,
      clientsOnLeader: cfg.placement === "leader" ? spec.clients : Array.from({ length: spec.clients }, (_, i) => i % cluster.size).filter((k) => k === leader).length,
      reply: spec.minimal ? "minimal" : "full",
      appends: spec.appends,
      ok,
      errors,
      errorKinds,
      elapsedS: elapsedMs / 1000,
      opsPerS: elapsedMs > 0 ? ok / (elapsedMs / 1000) : 0,
      latencyMs: summarize(lat),
      peakRssMB: mem.map((m) => toMB(m.peakRssBytes)),
      rssAfterMB: mem.map((m, i) => toMB(m.rssBytes ?? last.rssBytes[i] ?? null)),
      peerBytesPerAppend: delta(last.peerBytes, first.peerBytes, ok),
      fdatasyncsPerAppend: delta(last.fdatasyncs, first.fdatasyncs, ok),
      cpuCores: cpu1.map((c, i) => (c === null || cpu0[i] === null || wallS <= 0 ? null : (c - cpu0[i]!) / wallS)),
      loadGenCpuCores: wallS > 0 ? (gen.user + gen.system) / 1e6 / wallS : 0,
      cpuUsPerAppend: cpu1.map((c, i) => (c === null || cpu0[i] === null || ok <= 0 ? null : ((c - cpu0[i]!) * 1e6) / ok)),
      ...(w > 0 ? { warmupAppends: warmed } : {}),
      replyBytes: {
        mean: ok > 0 ? replyTotal / ok : 0,
        max: Math.max(0, ...results.map((r) => r.replyBytesMax)),
        last: results[results.length - 1]?.replyBytesLast ?? 0,
      },
      ...(segments.length > 0 ? { segments } : {}),
    };
    if (errors > 0) cfg.log(`  ${label}: ${errors} errors: ${JSON.stringify(errorKinds)}`);
    return run;
  } catch (e) {
    if (e instanceof Error) e.message += `\n${cluster.tailLogs()}`;
    throw e;
  } finally {
    await driver?.close();
    await cluster.stop();
    cfg.progress?.runDone();
  }
}

/** One client, `appends` full-reply appends through node 0, nodes tracing their steps: where the time goes. */
async function measureBreakdown(cfg: BenchConfig): Promise<Breakdown> {
  const dir = mkdtempSync(join(tmpdir(), "paxos-breakdown-"));
  const file = (i: number) => join(dir, `steps-${i}.json`);
  const cluster = await PaxosCluster.start({ paxosArgs: (i) => ["--trace-steps", file(i)], keepData: cfg.keepData });
  let driver: LoadDriver | null = null;
  try {
    const leader = await cluster.leaderIndex();
    driver = new LoadDriver([cluster.origins[0]!], tracked(cfg, "breakdown", paxosWorkload(false)), 1);
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
  const sets = cfg.levels.length + cfg.steadyLevels.length + (cfg.longAppends > 0 ? 1 : 0);
  cfg.progress?.plan(
    sets * systems.length + (cfg.breakdown > 0 ? 1 : 0),
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
  let breakdown: Breakdown | undefined;
  if (cfg.breakdown > 0) {
    breakdown = await measureBreakdown(cfg);
    cfg.log(formatBreakdown(breakdown).split("\n")[0]!);
  }
  const steady: RunResult[] = [];
  for (const clients of cfg.steadyLevels) {
    for (const system of systems) {
      const r = await measure(cfg, { system, kind: "steady", clients, appends: cfg.steadyAppends, minimal: true, segments: 4, warmup: cfg.steadyWarmup });
      steady.push(r);
      progress(r);
    }
  }
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
