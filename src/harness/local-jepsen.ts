// The Jepsen test on one machine: real node processes, each in its own
// network namespace; clients over the HTTP contract; partitions, kills and
// pauses; then heal, check the cluster serves again, check the history for
// linearizability and write a results folder with a report.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync, writeFileSync, openSync, closeSync } from "node:fs";
import { join, resolve } from "node:path";
import { request, type Dispatcher } from "undici";
import { historyFromEvents } from "../check/history.js";
import { checkHistory } from "../check/linearizability.js";
import type { ModelName } from "../check/models.js";
import { checkPrerequisites, createTestNet, destroyTestNet, heal, removeLeftovers, type TestNet } from "./netns.js";
import { runNemesis, type NemesisKind, type NodeControl } from "./nemesis.js";
import { renderReport } from "./report.js";
import type { HistoryEvent, NemesisInterval, RunResults } from "./report-types.js";
import { clientAgent, runWorkload, type ClientTlsFiles } from "./workload.js";
import { CA_CERT_FILE, clientCertPaths, createCa, createClientCert, createNodeCerts } from "../tls/certs.js";

export interface LocalJepsenOptions {
  readonly nodes: number;
  readonly concurrency: number;
  readonly timeLimitS: number;
  readonly rate: number;
  readonly nemeses: readonly NemesisKind[];
  readonly reads: boolean;
  readonly healthyS: number;
  readonly faultyS: number;
  readonly model: ModelName;
  readonly name: string;
  readonly storeDir: string;
  readonly requestTimeoutMs: number;
  /**
   * Mutual TLS end to end: a CA for the run, a certificate per node (naming
   * its address), peers with mutual TLS, HTTPS with required client
   * certificates, and clients that present one.
   */
  readonly tls?: boolean;
  /** How to start node i (argv), given the config path, its data dir and log file. Default: this project's `paxos node`. */
  readonly nodeCommand?: (i: number, config: string, dataDir: string, logFile: string) => string[];
  readonly log?: (line: string) => void;
}

export interface LocalJepsenOutcome {
  readonly exitCode: 0 | 1 | 2;
  readonly dir: string;
  readonly results: RunResults;
}

const HTTP_PORT = 5000;

function defaultNodeCommand(entry: string, extraArgs: (i: number) => string[]) {
  return (i: number, config: string, dataDir: string, logFile: string) => [
    process.execPath,
    entry,
    "node",
    config,
    "--self",
    String(i),
    "--data-dir",
    dataDir,
    "--log-file",
    logFile,
    ...extraArgs(i),
  ];
}

/** Certificates for one run: a CA, node-i for node i's address, and a client certificate for the Jepsen clients. */
async function makeRunCertificates(dir: string, ips: readonly string[]): Promise<{ nodeArgs: (i: number) => string[]; client: ClientTlsFiles }> {
  await createCa(dir, { commonName: "paxos-ts local Jepsen CA" });
  await createNodeCerts(dir, ips.map((ip, i) => ({ name: `node-${i}`, hosts: [ip] })));
  await createClientCert(dir, "jepsen");
  const ca = join(dir, CA_CERT_FILE);
  const client = clientCertPaths(dir, "jepsen");
  const nodeArgs = (i: number) => {
    const [cert, key] = [join(dir, `node-${i}.crt`), join(dir, `node-${i}.key`)];
    return ["--peer-cert-file", cert, "--peer-key-file", key, "--peer-trusted-ca-file", ca, "--cert-file", cert, "--key-file", key, "--trusted-ca-file", ca, "--client-cert-auth"];
  };
  return { nodeArgs, client: { caFile: ca, certFile: client.cert, keyFile: client.key } };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runLocalJepsen(o: LocalJepsenOptions, entryScript: string): Promise<LocalJepsenOutcome> {
  const log = o.log ?? ((l: string) => console.log(l));
  checkPrerequisites();
  const leftovers = removeLeftovers();
  if (leftovers.length > 0) log(`removed leftovers of an earlier run: ${leftovers.join(", ")}`);

  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const dir = resolve(o.storeDir, o.name, stamp);
  mkdirSync(dir, { recursive: true });
  const latest = resolve(o.storeDir, "latest");
  rmSync(latest, { force: true });
  symlinkSync(dir, latest);

  const procs: (ChildProcess | null)[] = Array.from({ length: o.nodes }, () => null);
  let net: TestNet | null = null;
  const cleanup = () => {
    for (const p of procs) if (p && p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    destroyTestNet();
  };
  // Ctrl-C or a crash must not leave namespaces, links or processes behind.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: cleaning up`);
    cleanup();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    net = createTestNet(o.nodes);
    const theNet = net;
    const config = join(dir, "cluster-config");
    writeFileSync(config, net.nodeIps.map((ip) => `${ip}:${HTTP_PORT}`).join("\n") + "\n");
    const certs = o.tls ? await makeRunCertificates(join(dir, "certs"), net.nodeIps) : null;
    const nodeUrls = net.nodeIps.map((ip) => `${certs === null ? "http" : "https"}://${ip}:${HTTP_PORT}`);
    // A token of this run's own: a leftover node of an earlier run on these addresses is refused.
    const nodeArgs = (i: number) => ["--cluster-token", `local-jepsen-${stamp}`, ...(certs?.nodeArgs(i) ?? [])];
    const command = o.nodeCommand ?? defaultNodeCommand(entryScript, nodeArgs);
    const agent: Dispatcher = clientAgent(certs?.client ?? null, 1000);

    const start = (i: number) => {
      const nodeDir = join(dir, `n${i}`);
      mkdirSync(nodeDir, { recursive: true });
      const logFile = join(nodeDir, "node.log");
      const out = openSync(join(nodeDir, "stdout-stderr.log"), "a");
      // `ip netns exec` execs the command, so the child's pid is the node's: signals reach it directly.
      procs[i] = spawn("ip", ["netns", "exec", theNet.namespaces[i]!, ...command(i, config, join(nodeDir, "data"), logFile)], {
        stdio: ["ignore", out, out],
      });
      closeSync(out);
    };
    const isRunning = (i: number) => {
      const p = procs[i];
      return p !== null && p !== undefined && p.exitCode === null && p.signalCode === null;
    };
    const status = async (i: number): Promise<{ leader: number | null; role: string } | null> => {
      try {
        const r = await request(`${nodeUrls[i]}/status`, { dispatcher: agent, headersTimeout: 1000, bodyTimeout: 1000 });
        return r.statusCode === 200 ? ((await r.body.json()) as { leader: number | null; role: string }) : null;
      } catch {
        return null;
      }
    };
    const nodes: NodeControl = {
      count: o.nodes,
      isRunning,
      start,
      kill: async (i) => {
        const p = procs[i];
        if (!p || !isRunning(i)) return;
        const exited = new Promise((r) => p.once("exit", r));
        p.kill("SIGKILL");
        await exited;
      },
      signal: (i, sig) => {
        if (isRunning(i)) procs[i]!.kill(sig);
      },
      leader: async () => {
        for (let i = 0; i < o.nodes; i++) {
          const s = await status(i);
          if (s?.role === "leader") return i;
        }
        return null;
      },
    };

    for (let i = 0; i < o.nodes; i++) start(i);
    const waitForLeader = async (ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const sts = await Promise.all(nodeUrls.map((_, i) => status(i)));
        const leader = sts[0]?.leader ?? null;
        if (leader !== null && sts.every((s) => s !== null && s.leader === leader)) return leader;
        await new Promise((r) => setTimeout(r, 100));
      }
      return null;
    };
    const first = await waitForLeader(15_000);
    if (first === null) throw new Error("the cluster elected no leader within 15 s of starting");
    log(`cluster up: ${o.nodes} nodes at ${nodeUrls.join(", ")}${certs ? " (mutual TLS: peers and clients)" : ""}, leader ${first}; results in ${dir}`);

    const t0 = process.hrtime.bigint();
    const clock = () => Number(process.hrtime.bigint() - t0);
    const endAt = Date.now() + o.timeLimitS * 1000;
    const stopped = () => Date.now() >= endAt;
    const [history, intervals] = await Promise.all([
      runWorkload({ nodeUrls, concurrency: o.concurrency, rate: o.rate, reads: o.reads, requestTimeoutMs: o.requestTimeoutMs, clock, shouldStop: stopped, tls: certs?.client ?? null }),
      o.nemeses.length === 0 || (o.nemeses.length === 1 && o.nemeses[0] === "none")
        ? Promise.resolve<NemesisInterval[]>([])
        : runNemesis({ kinds: o.nemeses, net, nodes, healthyMs: o.healthyS * 1000, faultyMs: o.faultyS * 1000, clock, stopped, log }),
    ]);

    // Heal everything, wait, and check that the cluster serves again through every node.
    await heal(net);
    for (let i = 0; i < o.nodes; i++) {
      if (!isRunning(i)) start(i);
      else nodes.signal(i, "SIGCONT");
    }
    const finalCheck = await serveCheck(nodeUrls, waitForLeader, agent);
    log(`final check: ${finalCheck.detail}`);

    for (let i = 0; i < o.nodes; i++) if (isRunning(i)) procs[i]!.kill("SIGTERM");
    await Promise.all(procs.map((p) => (p && p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once("exit", r)) : null)));

    const verdict = checkHistory(historyFromEvents(history), { model: o.model, timeoutMs: 120_000 });
    const results = summarize(o, startedAt, history, intervals, finalCheck, verdict);
    writeResults(dir, results, history);
    const exitCode: 0 | 1 | 2 = verdict.valid === true ? (finalCheck.ok ? 0 : 2) : verdict.valid === false ? 1 : 2;
    log(
      `${results.valid === true ? "VALID" : results.valid === false ? "NOT LINEARIZABLE" : "UNKNOWN"} (${o.model}): ` +
        `${results.counts.ok} ok, ${results.counts.info} info, ${results.counts.fail} fail; p50 ${results.latencyMs.p50} ms, p99 ${results.latencyMs.p99} ms`,
    );
    if (results.explanation) log(results.explanation);
    log(`report: ${join(dir, "index.html")}`);
    return { exitCode, dir, results };
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    cleanup();
  }
}

async function serveCheck(nodeUrls: readonly string[], waitForLeader: (ms: number) => Promise<number | null>, agent: Dispatcher): Promise<RunResults["finalCheck"]> {
  const leader = await waitForLeader(20_000);
  if (leader === null) return { ok: false, detail: "no leader within 20 s after healing" };
  const problems: string[] = [];
  for (let i = 0; i < nodeUrls.length; i++) {
    try {
      const r = await request(`${nodeUrls[i]}/proposer/client-request`, {
        dispatcher: agent,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_id: 999_999_000 + i, command_id: 1, payload: -(i + 1) }),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = await r.body.text();
      if (r.statusCode !== 200) problems.push(`node ${i}: HTTP ${r.statusCode} ${text.slice(0, 120)}`);
    } catch (e) {
      problems.push(`node ${i}: ${(e as Error).message}`);
    }
  }
  return problems.length === 0
    ? { ok: true, detail: `after healing, leader ${leader}; an append through each of the ${nodeUrls.length} nodes succeeded` }
    : { ok: false, detail: `after healing: ${problems.join("; ")}` };
}

function summarize(
  o: LocalJepsenOptions,
  startedAt: Date,
  history: readonly HistoryEvent[],
  intervals: NemesisInterval[],
  finalCheck: RunResults["finalCheck"],
  verdict: ReturnType<typeof checkHistory>,
): RunResults {
  const counts: RunResults["counts"] = { invoke: 0, ok: 0, fail: 0, info: 0, byF: {} };
  const open = new Map<number, HistoryEvent>();
  const latencies: number[] = [];
  for (const e of history) {
    if (e.type === "invoke") {
      counts.invoke++;
      open.set(e.process, e);
      continue;
    }
    counts[e.type]++;
    const byF = (counts.byF[e.f] ??= { ok: 0, fail: 0, info: 0 });
    byF[e.type]++;
    const inv = open.get(e.process);
    if (inv && e.type === "ok") latencies.push((e.time - inv.time) / 1e6);
    open.delete(e.process);
  }
  latencies.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  // The checker's op indices count operations in invoke order; the report indexes the same way.
  const failingOps = verdict.valid === false ? [...new Set([verdict.opIndex, ...verdict.related])] : [];
  return {
    name: o.name,
    startedAt: startedAt.toISOString(),
    valid: verdict.valid,
    model: o.model,
    explanation: verdict.valid === false ? verdict.explanation : verdict.valid === "unknown" ? verdict.reason : "",
    failingOps,
    nodes: o.nodes,
    concurrency: o.concurrency,
    timeLimitS: o.timeLimitS,
    nemeses: [...o.nemeses],
    rate: o.rate,
    counts,
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p90: round(percentile(latencies, 90)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies[latencies.length - 1] ?? 0),
    },
    nemesisIntervals: intervals,
    finalCheck,
    tls: o.tls ?? false,
  };
}

/** Jepsen's EDN history shape, one map per line. */
function ednLine(e: HistoryEvent, index: number): string {
  const value = e.value === null ? "nil" : String(e.value);
  const state = e.state === null ? "" : `, :state [${e.state.join(" ")}]`;
  return `{:index ${index}, :time ${e.time}, :type :${e.type}, :process ${e.process}, :f :${e.f}, :value ${value}${state}}`;
}

function writeResults(dir: string, results: RunResults, history: readonly HistoryEvent[]): void {
  writeFileSync(join(dir, "history.jsonl"), history.map((e) => JSON.stringify(e)).join("\n") + "\n");
  writeFileSync(join(dir, "history.edn"), history.map(ednLine).join("\n") + "\n");
  writeFileSync(join(dir, "results.json"), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(join(dir, "index.html"), renderReport(results, [...history]));
}
