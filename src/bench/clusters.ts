// The clusters `paxos bench` measures, as real OS processes on loopback with
// fresh data directories: 3 `paxos node` processes, or 3 etcd members. Both
// expose the same small interface: client origins, the leader, counters
// scraped from GET /metrics (summed over the nodes), memory from /proc.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { freePorts } from "../config/free-ports.js";
import { WARM_UP_FAILED_MSG, WARMED_UP_MSG } from "../node/warm-up.js";

export type SystemName = "paxos" | "etcd";

/** Counters summed over the nodes (null: the system does not export it). */
export interface ClusterCounters {
  fdatasyncs: number | null;
  peerBytes: number | null;
  /** process_resident_memory_bytes per node, as the node reports it. */
  rssBytes: (number | null)[];
}

/**
 * What a paxos node's own warm-up before serving did (src/node/warm-up.ts), from its log: the
 * scratch appends it made in how many rounds and milliseconds, or why it failed (then it served
 * cold). null: no such line (etcd, or a node run with --no-warm-up).
 */
export type NodeWarmUp =
  | { readonly appends: number; readonly rounds: number; readonly ms: number; readonly portRetries: number }
  | { readonly failed: string }
  | null;

export interface NodeMemory {
  /** VmRSS: resident now. */
  rssBytes: number | null;
  /** VmHWM: peak resident since the process started. */
  peakRssBytes: number | null;
}

export interface BenchCluster {
  readonly system: SystemName;
  readonly size: number;
  readonly pids: readonly number[];
  /** http://127.0.0.1:port of each node's client endpoint. */
  readonly origins: readonly string[];
  leaderIndex(): Promise<number>;
  scrape(): Promise<ClusterCounters>;
  memory(): NodeMemory[];
  /** CPU seconds (user + system) each node has used since it started. */
  cpuSeconds(): (number | null)[];
  /** The last lines of each node's log, for error messages. */
  tailLogs(lines?: number): string;
  /** Per node, what its warm-up before serving did (paxos; etcd has none). */
  warmUps(): NodeWarmUp[];
  /** SIGSTOPs every node and waits until /proc shows each stopped: it takes no CPU while another system is measured. */
  pause(): Promise<void>;
  /** SIGCONTs every node, waits until /proc shows each running, then until the members agree on a leader. */
  resume(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period; removes the data unless asked to keep it. */
  stop(): Promise<void>;
}

/** Every process any cluster of this module started and has not yet seen exit (for emergency cleanup). */
const live = new Set<ChildProcess>();

/** SIGKILLs every process started here that is still running (only those: by their own PIDs). */
export function killAllStarted(): void {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
}

/** The repository root: the nearest directory above this file with bin/paxos.js (works from src/ and dist/src/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "bin", "paxos.js")) && existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the repository root (bin/paxos.js)");
    dir = up;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function httpText(url: string, init: { method?: "GET" | "POST"; body?: string; timeoutMs?: number } = {}): Promise<{ status: number; text: string }> {
  const t = init.timeoutMs ?? 3000;
  const res = await request(url, {
    method: init.method ?? "GET",
    body: init.body,
    headers: init.body !== undefined ? { "content-type": "application/json" } : {},
    headersTimeout: t,
    bodyTimeout: t,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

/**
 * Sum of every sample of a metric in Prometheus text exposition (all label
 * sets), or null when the metric is absent.
 */
export function sumMetric(text: string, name: string): number | null {
  let found = false;
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    let valueText: string;
    if (rest.startsWith("{")) valueText = rest.slice(rest.lastIndexOf("}") + 1);
    else if (rest.startsWith(" ")) valueText = rest;
    else continue; // a longer name with this prefix
    const v = Number(valueText.trim().split(/\s+/)[0]);
    if (Number.isFinite(v)) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : null;
}

/** VmRSS and VmHWM of a process from /proc (null where /proc has no such process). */
export function procMemory(pid: number | undefined): NodeMemory {
  if (pid === undefined) return { rssBytes: null, peakRssBytes: null };
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => {
      const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(s);
      return m ? Number(m[1]) * 1024 : null;
    };
    return { rssBytes: kb("VmRSS"), peakRssBytes: kb("VmHWM") };
  } catch {
    return { rssBytes: null, peakRssBytes: null };
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces, in parentheses): [0] is the state. */
function procStatFields(pid: number | undefined): string[] | null {
  if (pid === undefined) return null;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat (null when unreadable). */
export function procCpuSeconds(pid: number | undefined, clockTicks = 100): number | null {
  const f = procStatFields(pid);
  if (f === null) return null;
  // utime and stime: the 14th and 15th fields of the whole line.
  const ut = Number(f[11]);
  const st = Number(f[12]);
  return Number.isFinite(ut) && Number.isFinite(st) ? (ut + st) / clockTicks : null;
}

/** The state letter of /proc/<pid>/stat ("T": stopped by a signal; "R", "S", "D": running or waiting), null when unreadable. */
function procState(pid: number | undefined): string | null {
  return procStatFields(pid)?.[0] ?? null;
}

interface Started {
  proc: ChildProcess;
  logPath: string;
}

function startProcess(cmd: string, args: string[], logPath: string): Started {
  const fd = openSync(logPath, "a");
  try {
    const proc = spawn(cmd, args, { stdio: ["ignore", fd, fd] });
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    proc.once("error", () => live.delete(proc));
    return { proc, logPath };
  } finally {
    closeSync(fd); // the child has its own copy
  }
}

function running(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null && p.pid !== undefined;
}

async function stopProcess(p: ChildProcess, graceMs: number): Promise<void> {
  if (!running(p)) return;
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  p.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (running(p)) p.kill("SIGKILL");
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, "utf8").split("\n").filter(Boolean).slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

abstract class ProcessGroup {
  protected readonly nodes: Started[] = [];
  protected readonly extraLogs: string[] = [];

  constructor(
    readonly dir: string,
    private readonly keepData: boolean,
    /** The HTTP port clients use on each member. */
    readonly ports: number[],
  ) {}

  get size(): number {
    return this.ports.length;
  }

  get origins(): string[] {
    return this.ports.map((p) => `http://127.0.0.1:${p}`);
  }

  /** Sums the two counters over the members' /metrics, and reads each member's RSS. */
  protected async scrapeCounters(fdatasyncMetric: string, peerBytesMetric: string): Promise<ClusterCounters> {
    const texts = await Promise.all(this.origins.map(async (o) => (await httpText(`${o}/metrics`)).text));
    const sum = (name: string) => {
      const vs = texts.map((t) => sumMetric(t, name));
      return vs.every((v) => v === null) ? null : vs.reduce<number>((a, v) => a + (v ?? 0), 0);
    };
    return {
      fdatasyncs: sum(fdatasyncMetric),
      peerBytes: sum(peerBytesMetric),
      rssBytes: texts.map((t) => sumMetric(t, "process_resident_memory_bytes")),
    };
  }

  get pids(): number[] {
    return this.nodes.map((n) => n.proc.pid ?? -1);
  }

  memory(): NodeMemory[] {
    return this.nodes.map((n) => (running(n.proc) ? procMemory(n.proc.pid) : { rssBytes: null, peakRssBytes: null }));
  }

  cpuSeconds(): (number | null)[] {
    return this.nodes.map((n) => procCpuSeconds(n.proc.pid));
  }

  tailLogs(lines = 10): string {
    const logs = [...this.nodes.map((n) => n.logPath), ...this.extraLogs];
    return logs.map((l) => `--- ${l}\n${tail(l, lines)}`).join("\n");
  }

  protected checkAlive(): void {
    this.nodes.forEach((n, i) => {
      if (!running(n.proc)) throw new Error(`node ${i} exited (code ${n.proc.exitCode}, signal ${n.proc.signalCode})\n${this.tailLogs()}`);
    });
  }

  abstract leaderIndex(timeoutMs?: number): Promise<number>;

  async pause(): Promise<void> {
    for (const n of this.nodes) if (running(n.proc)) n.proc.kill("SIGSTOP");
    await this.waitForStates((state) => state === "T", "stopped (SIGSTOP)");
  }

  async resume(): Promise<void> {
    for (const n of this.nodes) if (running(n.proc)) n.proc.kill("SIGCONT");
    await this.waitForStates((state) => state !== "T", "running again (SIGCONT)");
    await this.leaderIndex();
  }

  /** Polls /proc until every node's state passes `ok` (a signal is delivered asynchronously). */
  private async waitForStates(ok: (state: string) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      this.checkAlive();
      const states = this.nodes.map((n) => procState(n.proc.pid));
      if (states.every((st) => st !== null && ok(st))) return;
      if (Date.now() > deadline) throw new Error(`nodes not ${what} within 5 s: states ${states.join(", ")}`);
      await sleep(5);
    }
  }

  async stop(): Promise<void> {
    // A paused node would not act on SIGTERM until the grace period's SIGKILL.
    for (const n of this.nodes) if (running(n.proc)) n.proc.kill("SIGCONT");
    // Profiles (--cpu-prof) are written on a clean exit: give it time.
    await Promise.all(this.nodes.map((n) => stopProcess(n.proc, 15_000)));
    if (!this.keepData) rmSync(this.dir, { recursive: true, force: true });
  }

  protected async waitUntil(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      this.checkAlive();
      if (await cond().catch(() => false)) return;
      await sleep(50);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tailLogs()}`);
  }
}

export interface PaxosClusterOptions {
  size?: number;
  /** Extra arguments for `node` itself, e.g. ["--cpu-prof", "--cpu-prof-dir", DIR]. */
  nodeArgs?: string[];
  /** Extra arguments for `paxos node` i, e.g. ["--trace-steps", FILE]. */
  paxosArgs?: (i: number) => string[];
  keepData?: boolean;
  logLevel?: string;
}

interface PaxosStatus {
  id: number;
  role: string;
  leader: number | null;
}

/** 3 `paxos node` processes on loopback, fresh data directories, config of 127.0.0.1:http:grpc:peer lines. */
export class PaxosCluster extends ProcessGroup implements BenchCluster {
  readonly system = "paxos" as const;

  private constructor(dir: string, keepData: boolean, ports: number[]) {
    super(dir, keepData, ports);
  }

  static async start(o: PaxosClusterOptions = {}): Promise<PaxosCluster> {
    const size = o.size ?? 3;
    const ports = await freePorts(3 * size);
    const http = ports.slice(0, size);
    const grpc = ports.slice(size, 2 * size);
    const peer = ports.slice(2 * size);
    const dir = mkdtempSync(join(tmpdir(), "paxos-bench-"));
    const config = join(dir, "config");
    writeFileSync(config, http.map((p, i) => `127.0.0.1:${p}:${grpc[i]}:${peer[i]}`).join("\n") + "\n");
    const c = new PaxosCluster(dir, o.keepData ?? false, http);
    const bin = join(repoRoot(), "bin", "paxos.js");
    try {
      for (let i = 0; i < size; i++) {
        const args = [
          ...(o.nodeArgs ?? []),
          bin,
          "node",
          config,
          "--self",
          String(i),
          "--data-dir",
          join(dir, `node-${i}`),
          "--log-file",
          join(dir, `node-${i}.log`),
          "--log-level",
          o.logLevel ?? "info",
          ...(o.paxosArgs?.(i) ?? []),
        ];
        c.nodes.push(startProcess(process.execPath, args, join(dir, `node-${i}.out`)));
        c.extraLogs.push(join(dir, `node-${i}.log`));
      }
      await c.leaderIndex(20_000);
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  private async status(i: number): Promise<PaxosStatus> {
    const r = await httpText(`${this.origins[i]}/status`);
    if (r.status !== 200) throw new Error(`GET /status: HTTP ${r.status}`);
    return JSON.parse(r.text) as PaxosStatus;
  }

  /** Waits until every node names the same leader and that node says it leads. */
  async leaderIndex(timeoutMs = 15_000): Promise<number> {
    let leader = -1;
    await this.waitUntil(
      async () => {
        const sts = await Promise.all(this.ports.map((_, i) => this.status(i)));
        const l = sts[0]!.leader;
        if (l === null || !sts.every((s) => s.leader === l) || sts[l]?.role !== "leader") return false;
        leader = l;
        return true;
      },
      timeoutMs,
      "a paxos leader all nodes agree on",
    );
    return leader;
  }

  scrape(): Promise<ClusterCounters> {
    return this.scrapeCounters("paxos_fdatasyncs_total", "paxos_peer_bytes_sent_total");
  }

  warmUps(): NodeWarmUp[] {
    return this.extraLogs.map((path) => {
      let text: string;
      try {
        text = readFileSync(path, "utf8");
      } catch {
        return null;
      }
      for (const line of text.split("\n")) {
        if (!line.includes("warm")) continue;
        const entry = parseJsonObject(line);
        if (entry?.msg === WARMED_UP_MSG) {
          return { appends: num(entry.appends), rounds: num(entry.rounds), ms: num(entry.ms), portRetries: num(entry.portRetries) };
        }
        if (entry?.msg === WARM_UP_FAILED_MSG) {
          const err = entry.err as { message?: unknown } | undefined;
          return { failed: typeof err?.message === "string" ? err.message : "unknown error" };
        }
      }
      return null;
    });
  }
}

function parseJsonObject(line: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const num = (v: unknown): number => (typeof v === "number" ? v : 0);

export interface EtcdClusterOptions {
  size?: number;
  bin?: string;
  keepData?: boolean;
}

/** The installed etcd's version line ("3.4.23"), or null when it cannot be run. */
export function etcdVersion(bin = "etcd"): string | null {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (r.status !== 0 || typeof r.stdout !== "string") return null;
  const m = /etcd Version:\s*(\S+)/.exec(r.stdout);
  return m ? m[1]! : r.stdout.trim().split("\n")[0] ?? null;
}

/** A 3-member etcd on loopback (v3 JSON gateway on the client URLs), fresh data directories. */
export class EtcdCluster extends ProcessGroup implements BenchCluster {
  readonly system = "etcd" as const;

  private constructor(dir: string, keepData: boolean, ports: number[]) {
    super(dir, keepData, ports);
  }

  static async start(o: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const size = o.size ?? 3;
    const ports = await freePorts(2 * size);
    const client = ports.slice(0, size);
    const peer = ports.slice(size);
    const dir = mkdtempSync(join(tmpdir(), "etcd-bench-"));
    const c = new EtcdCluster(dir, o.keepData ?? false, client);
    const initial = peer.map((p, i) => `m${i}=http://127.0.0.1:${p}`).join(",");
    const token = `bench-${process.pid}-${Date.now()}`;
    try {
      for (let i = 0; i < size; i++) {
        const cu = `http://127.0.0.1:${client[i]}`;
        const pu = `http://127.0.0.1:${peer[i]}`;
        mkdirSync(join(dir, `m${i}`), { recursive: true, mode: 0o700 });
        const args = [
          "--name", `m${i}`,
          "--data-dir", join(dir, `m${i}`),
          "--listen-client-urls", cu,
          "--advertise-client-urls", cu,
          "--listen-peer-urls", pu,
          "--initial-advertise-peer-urls", pu,
          "--initial-cluster", initial,
          "--initial-cluster-state", "new",
          "--initial-cluster-token", token,
          "--logger", "zap",
          "--log-outputs", "stderr",
          "--log-level", "warn",
        ];
        c.nodes.push(startProcess(o.bin ?? "etcd", args, join(dir, `m${i}.log`)));
      }
      await c.waitUntil(
        async () => {
          const rs = await Promise.all(c.origins.map((u) => httpText(`${u}/health`)));
          return rs.every((r) => r.status === 200 && /"health"\s*:\s*"true"/.test(r.text));
        },
        30_000,
        "etcd /health on every member",
      );
      await c.leaderIndex(15_000);
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  async leaderIndex(timeoutMs = 15_000): Promise<number> {
    let leader = -1;
    await this.waitUntil(
      async () => {
        const sts = await Promise.all(
          this.origins.map(async (u) => {
            const r = await httpText(`${u}/v3/maintenance/status`, { method: "POST", body: "{}" });
            return JSON.parse(r.text) as { header?: { member_id?: string }; leader?: string };
          }),
        );
        const idx = sts.findIndex((s) => s.leader !== undefined && s.header?.member_id === s.leader);
        if (idx < 0 || !sts.every((s) => s.leader === sts[idx]!.leader)) return false;
        leader = idx;
        return true;
      },
      timeoutMs,
      "an etcd leader all members agree on",
    );
    return leader;
  }

  scrape(): Promise<ClusterCounters> {
    return this.scrapeCounters("etcd_disk_wal_fsync_duration_seconds_count", "etcd_network_peer_sent_bytes_total");
  }

  /** etcd compiles nothing at run time, so it has no warm-up. */
  warmUps(): NodeWarmUp[] {
    return this.ports.map(() => null);
  }
}

export async function startCluster(system: SystemName, o: { nodeArgs?: string[]; etcdBin?: string; keepData?: boolean } = {}): Promise<BenchCluster> {
  return system === "paxos"
    ? PaxosCluster.start({ nodeArgs: o.nodeArgs, keepData: o.keepData })
    : EtcdCluster.start({ bin: o.etcdBin, keepData: o.keepData });
}
