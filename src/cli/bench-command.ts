// `paxos bench` (npm run bench): throughput and latency of a local 3-node
// cluster under C concurrent HTTP clients, optionally against etcd.

import { InvalidArgumentError, type Command } from "commander";
import { DEFAULT_CONFIG, QUICK, runBenchmark, type BenchConfig, type BenchProgress } from "../bench/bench.js";
import { killAllStarted } from "../bench/clusters.js";
import { createProgress, NO_PROGRESS, type Progress } from "./progress.js";

export interface BenchCommandOptions {
  levels?: number[];
  appends?: number;
  oneClientAppends?: number;
  longAppends?: number;
  longClients?: number;
  longSegments?: number;
  steady?: number[];
  warmup?: number;
  steadyAppends?: number;
  breakdown?: number;
  compare?: string;
  etcdBin?: string;
  out?: string;
  placement?: string;
  profile?: string;
  timeoutMs?: number;
  keepData?: boolean;
  /** Commander's --no-client-warm-up: false skips the load generator's warm-up. */
  clientWarmUp?: boolean;
  quick?: boolean;
  /** Where the table goes as it is made, and the report (default: stdout). */
  log?: (line: string) => void;
  /** Runs and appends done, on stderr (default: createProgress(), or none when log is given). */
  progress?: Progress;
}

/** The bench's runs and requests as one count: appends done of all the runs' appends, and which run. */
export function benchProgress(p: Progress): BenchProgress {
  let runs = 0;
  let runsDone = 0;
  let base = 0;
  let label = "starting";
  let live = () => 0;
  const now = () => ({ done: base + live(), extra: `run ${Math.min(runsDone + 1, runs)}/${runs} ${label}` });
  return {
    plan(r, requests) {
      runs = r;
      p.start(requests, "bench", { unit: "appends", poll: now });
    },
    run(l, requests) {
      label = l;
      live = requests;
    },
    runDone() {
      base += live();
      live = () => 0;
      runsDone++;
      label = "starting the next cluster";
      if (runsDone >= runs) return p.stop(); // the report comes next
      const x = now();
      p.update(x.done, x.extra);
    },
  };
}

function positiveInt(what: string, min = 1, max = 10_000_000) {
  return (text: string): number => {
    if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`${what} must be a whole number`);
    const n = Number(text);
    if (n < min || n > max) throw new InvalidArgumentError(`${what} must be in [${min}, ${max}]`);
    return n;
  };
}

/** "1,5,32,128" -> [1, 5, 32, 128] (each 1..10000). */
export function parseLevels(text: string): number[] {
  const parts = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (parts.length === 0) throw new InvalidArgumentError("--levels needs at least one client count, e.g. 1,5,32,128");
  return parts.map(positiveInt("each level", 1, 10_000));
}

/** "32,128" -> [32, 128]; "none" -> [] (no steady runs). */
export function parseSteady(text: string): number[] {
  return text.trim() === "none" ? [] : parseLevels(text);
}

/**
 * Adds the options and the action of `paxos bench` to a command, e.g. in
 * main.ts: configureBenchCommand(program.command("bench")).
 */
export function configureBenchCommand(cmd: Command): Command {
  return cmd
    .description(
      "Benchmark a local 3-node cluster over HTTP: a sweep of concurrent clients (fresh cluster per level, full replies: cold), " +
        "steady-state runs (minimal replies, measured after a warm-up), then a long run with minimal replies; prints a table " +
        "(with CPU microseconds per append per node) and writes JSON. --compare etcd runs the same load against a 3-member etcd.",
    )
    .option("--levels <list>", "comma-separated client counts of the sweep (default 1,5,32,128)", parseLevels)
    .option("--appends <n>", "appends per level, from an empty list (default 5000)", positiveInt("--appends"))
    .option("--one-client-appends <n>", "appends of the 1-client level, from a fresh cluster (default 1000)", positiveInt("--one-client-appends"))
    .option("--long-appends <n>", "appends of the long minimal-reply run, 0 skips it (default 100000)", positiveInt("--long-appends", 0))
    .option("--long-clients <n>", "concurrent clients of the long run (default 32)", positiveInt("--long-clients", 1, 10_000))
    .option("--long-segments <n>", "the long run is measured in this many segments, first vs last shows growth with the list (default 10)", positiveInt("--long-segments", 1, 1000))
    .option("--steady <list>", "client counts of the steady-state runs, or none (default 32,128)", parseSteady)
    .option("--warmup <n>", "appends before a steady run is measured (default 20000)", positiveInt("--warmup", 0))
    .option("--steady-appends <n>", "appends measured in a steady run (default 20000)", positiveInt("--steady-appends"))
    .option("--breakdown <n>", "appends of the 1-client run whose nodes trace each step, to show where an append's time goes; 0 skips it (default 1000)", positiveInt("--breakdown", 0))
    .option("--compare <system>", "also run the same load against this system (only: etcd)", (v: string) => {
      if (v !== "etcd") throw new InvalidArgumentError("--compare supports only etcd");
      return v;
    })
    .option("--etcd-bin <path>", "the etcd executable", DEFAULT_CONFIG.etcdBin)
    .option("--out <dir>", "directory for the JSON results (bench-<timestamp>.json)", DEFAULT_CONFIG.outDir)
    .option("--placement <where>", "spread: clients round-robin over all nodes; leader: all clients on the leader", (v: string) => {
      if (v !== "spread" && v !== "leader") throw new InvalidArgumentError("--placement must be spread or leader");
      return v;
    }, DEFAULT_CONFIG.placement)
    .option("--profile <dir>", "run the paxos nodes with node --cpu-prof, profiles under DIR/<run>/")
    .option("--timeout-ms <ms>", "per-request timeout of the load generator", positiveInt("--timeout-ms", 100, 600_000), DEFAULT_CONFIG.timeoutMs)
    .option("--keep-data", "keep the clusters' data directories and logs (in the OS temp dir)", false)
    .option("--no-client-warm-up", "measure with a cold load generator (by default it first runs a few thousand requests against an in-process server)")
    .option("--quick", "a tiny run for CI: levels 1,4 with 100 appends each, a steady run of 200 after 200 at 4 clients, long run of 300 appends at 4 clients", false)
    .action(async (o: BenchCommandOptions) => {
      process.exitCode = await runBench(o);
    });
}

/** Runs the benchmark; returns the exit code: 0 done, 1 a cluster failed or some requests failed, 2 bad options. */
export async function runBench(o: BenchCommandOptions): Promise<number> {
  const progress = o.progress ?? (o.log === undefined ? createProgress() : NO_PROGRESS);
  const log = o.log ?? ((line: string) => progress.interrupt(() => console.log(line)));
  const cfg: BenchConfig = {
    ...DEFAULT_CONFIG,
    ...(o.quick ? QUICK : {}),
    log,
    ...(progress === NO_PROGRESS ? {} : { progress: benchProgress(progress) }),
  };
  // Explicit sizes win over --quick's.
  if (o.levels !== undefined) cfg.levels = o.levels;
  if (o.appends !== undefined) cfg.appends = o.appends;
  if (o.oneClientAppends !== undefined) cfg.oneClientAppends = o.oneClientAppends;
  if (o.longAppends !== undefined) cfg.longAppends = o.longAppends;
  if (o.longClients !== undefined) cfg.longClients = o.longClients;
  if (o.longSegments !== undefined) cfg.longSegments = o.longSegments;
  if (o.steady !== undefined) cfg.steadyLevels = o.steady;
  if (o.warmup !== undefined) cfg.steadyWarmup = o.warmup;
  if (o.steadyAppends !== undefined) cfg.steadyAppends = o.steadyAppends;
  if (o.breakdown !== undefined) cfg.breakdown = o.breakdown;
  if (o.compare !== undefined) {
    if (o.compare !== "etcd") {
      console.error(`paxos bench: --compare supports only etcd, not ${o.compare}`);
      return 2;
    }
    cfg.compare = "etcd";
  }
  if (o.etcdBin !== undefined) cfg.etcdBin = o.etcdBin;
  if (o.out !== undefined) cfg.outDir = o.out;
  if (o.placement !== undefined) {
    if (o.placement !== "spread" && o.placement !== "leader") {
      console.error("paxos bench: --placement must be spread or leader");
      return 2;
    }
    cfg.placement = o.placement;
  }
  if (o.profile !== undefined) cfg.profileDir = o.profile;
  if (o.timeoutMs !== undefined) cfg.timeoutMs = o.timeoutMs;
  if (o.keepData !== undefined) cfg.keepData = o.keepData;
  if (o.clientWarmUp === false) cfg.warmClient = false;

  // Ctrl-C or SIGTERM: kill the processes this run started (only those), then exit.
  const onSignal = (sig: NodeJS.Signals) => {
    progress.stop();
    killAllStarted();
    console.error(`paxos bench: ${sig}: stopped the clusters it started`);
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const { report } = await runBenchmark(cfg).finally(() => progress.stop());
    const failed = [...report.levels, ...(report.steady ?? []), ...report.long].filter((r) => r.errors > 0 || r.ok === 0);
    if (failed.length > 0) {
      console.error(`paxos bench: ${failed.length} run(s) had failed requests`);
      return 1;
    }
    return 0;
  } catch (e) {
    console.error(`paxos bench: ${(e as Error).stack ?? String(e)}`);
    return 1;
  } finally {
    killAllStarted(); // normally nothing is left
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
}
