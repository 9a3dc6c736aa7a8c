// The Jepsen test on one machine: real node processes, each in its own
// network namespace; clients over the HTTP contract; partitions, kills,
// pauses and membership changes; then heal, check the cluster serves again,
// check the history for linearizability and write a results folder with a
// report.
//
// With the member nemesis the run has more slots (namespaces) than nodes:
// max(nodes, 5). The first `nodes` bootstrap the cluster from a config file;
// the others are spares that the nemesis fills with nodes started with
// `paxos node --join`. A slot is one of:
//   config:  a node of the bootstrap config (restarted with the config);
//   joined:  a node started with --join (restarted from its member.json
//            with --data-dir only, or with --join again if it was killed
//            before it was added);
//   retired: its member was removed; the harness never restarts it (its
//            process may run on, as a removed node, until the slot is reused);
//   spare:   never used yet.

import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { request, type Dispatcher } from "undici";
import { historyFromEvents } from "../check/history.js";
import { checkHistory } from "../check/linearizability.js";
import type { ModelName } from "../check/models.js";
import { checkPrerequisites, createTestNet, destroyTestNet, heal, removeLeftovers, type TestNet } from "./netns.js";
import { MemberNemesis } from "./member-nemesis.js";
import { deriveMembership, fetchMembers, MembershipObserver, slotOfAddress, type MembersJson, type MembershipSample } from "./membership.js";
import { runNemesis, type NemesisKind, type NodeControl } from "./nemesis.js";
import { renderReport } from "./report.js";
import type { HistoryEvent, MembershipObservation, NemesisInterval, RunResults } from "./report-types.js";
import { clientAgent, runWorkload, type ClientTlsFiles } from "./workload.js";
import { CA_CERT_FILE, clientCertPaths, createCa, createClientCert, createNodeCerts } from "../tls/certs.js";
import { MEMBER_FILE_NAME } from "../storage/member-file.js";
import { writeAnnotations, type UiFault } from "../ui/annotations.js";
import { NO_PROGRESS, phased, type Progress } from "../cli/progress.js";

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
  /** How to start slot i's node (argv), given the config path, its data dir and log file, and how it starts. Default: this project's `paxos node`. */
  readonly nodeCommand?: (i: number, config: string, dataDir: string, logFile: string, launch: NodeLaunch) => string[];
  readonly log?: (line: string) => void;
  /** Progress of the run (seconds of the time limit, ops so far) and of the check, e.g. on stderr. */
  readonly progress?: Progress;
}

export interface LocalJepsenOutcome {
  readonly exitCode: 0 | 1 | 2;
  readonly dir: string;
  readonly results: RunResults;
}

/**
 * How a slot's node starts: from the bootstrap config; as a new node joining
 * through `via` (both addresses host:http:grpc:peer); or, having joined
 * before, from the member file in its data dir.
 */
export type NodeLaunch = { kind: "config"; token: string } | { kind: "join"; via: string; self: string } | { kind: "member-file" };

const HTTP_PORT = 5000;
/** Slots for the member nemesis to grow into: Jepsen's etcd test goes 3 <-> 5. */
const MEMBER_SLOTS = 5;

function defaultNodeCommand(entry: string, tlsArgs: (i: number) => string[], annotations: string) {
  return (i: number, config: string, dataDir: string, logFile: string, launch: NodeLaunch) => {
    const common = ["--data-dir", dataDir, "--log-file", logFile, "--ui-annotations", annotations, ...tlsArgs(i)];
    switch (launch.kind) {
      case "config":
        return [process.execPath, entry, "node", config, "--self", String(i), "--cluster-token", launch.token, ...common];
      case "join":
        return [process.execPath, entry, "node", "--join", launch.via, "--self", launch.self, ...common];
      case "member-file":
        return [process.execPath, entry, "node", ...common];
    }
  };
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
  const progress = o.progress ?? NO_PROGRESS;
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

  const withMembers = o.nemeses.includes("member");
  const slots = withMembers ? Math.max(o.nodes, MEMBER_SLOTS) : o.nodes;
  const procs: (ChildProcess | null)[] = Array.from({ length: slots }, () => null);
  let net: TestNet | null = null;
  let annotationsTimer: NodeJS.Timeout | undefined;
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
    net = createTestNet(slots);
    const theNet = net;
    const config = join(dir, "cluster-config");
    // The config bootstraps the first o.nodes slots; the spares join later.
    writeFileSync(config, net.nodeIps.slice(0, o.nodes).map((ip) => `${ip}:${HTTP_PORT}`).join("\n") + "\n");
    const certs = o.tls ? await makeRunCertificates(join(dir, "certs"), net.nodeIps) : null;
    const nodeUrls = net.nodeIps.map((ip) => `${certs === null ? "http" : "https"}://${ip}:${HTTP_PORT}`);
    const addressOf = (i: number) => `${theNet.nodeIps[i]}:${HTTP_PORT}:${HTTP_PORT + 1000}:${HTTP_PORT + 2000}`;
    // A token of this run's own: a leftover node of an earlier run on these addresses is refused.
    const token = `local-jepsen-${stamp}`;
    // The live page (GET /ui on any node) shows the nemesis's current fault: the nodes read it from this
    // file, which only this harness writes (a node takes no fault state from HTTP clients: src/ui/annotations.ts).
    const annotationsFile = join(dir, "ui-annotations.json");
    let currentFault: UiFault | null = null;
    const annotate = () => {
      try {
        writeAnnotations(annotationsFile, { source: `paxos jepsen (${o.nemeses.join(",")})`, fault: currentFault, updated: Date.now() });
      } catch (e) {
        log(`cannot write ${annotationsFile} for the live page: ${(e as Error).message}`);
      }
    };
    annotate();
    // Rewritten now and then even without news: the page calls a file that stopped changing stale.
    annotationsTimer = setInterval(annotate, 5_000);
    const command = o.nodeCommand ?? defaultNodeCommand(entryScript, (i) => certs?.nodeArgs(i) ?? [], annotationsFile);
    const agent: Dispatcher = clientAgent(certs?.client ?? null, 1000);

    type SlotMode = "config" | "joined" | "retired" | "spare";
    const modes: SlotMode[] = Array.from({ length: slots }, (_, i) => (i < o.nodes ? "config" : "spare"));
    const vias: number[] = Array.from({ length: slots }, () => 0);
    const setAside: number[] = Array.from({ length: slots }, () => 0);
    const nodeDir = (i: number) => join(dir, `n${i}`);
    const dataDir = (i: number) => join(nodeDir(i), "data");
    const isRunning = (i: number) => {
      const p = procs[i];
      return p !== null && p !== undefined && p.exitCode === null && p.signalCode === null;
    };
    const isActive = (i: number) => modes[i] === "config" || modes[i] === "joined";

    const spawnNode = (i: number, launch: NodeLaunch) => {
      mkdirSync(nodeDir(i), { recursive: true });
      // One log for every incarnation of the slot: the lines carry the node id.
      const logFile = join(nodeDir(i), "node.log");
      const out = openSync(join(nodeDir(i), "stdout-stderr.log"), "a");
      // `ip netns exec` execs the command, so the child's pid is the node's: signals reach it directly.
      procs[i] = spawn("ip", ["netns", "exec", theNet.namespaces[i]!, ...command(i, config, dataDir(i), logFile, launch)], {
        stdio: ["ignore", out, out],
      });
      closeSync(out);
    };
    const start = (i: number) => {
      const mode = modes[i];
      if (mode === "config") return spawnNode(i, { kind: "config", token });
      if (mode !== "joined") return; // removed members and spares stay down
      if (existsSync(join(dataDir(i), MEMBER_FILE_NAME))) return spawnNode(i, { kind: "member-file" });
      // Killed before it was added: it joins again, through a member that runs.
      const via = isActive(vias[i]!) && isRunning(vias[i]!) ? vias[i]! : Array.from({ length: slots }, (_, k) => k).find((k) => k !== i && isActive(k) && isRunning(k)) ?? vias[i]!;
      spawnNode(i, { kind: "join", via: addressOf(via), self: addressOf(i) });
    };
    const kill = async (i: number) => {
      const p = procs[i];
      if (!p || !isRunning(i)) return;
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGKILL");
      await exited;
    };
    const status = async (i: number): Promise<{ leader: number | null; role: string; member?: string } | null> => {
      try {
        const r = await request(`${nodeUrls[i]}/status`, { dispatcher: agent, headersTimeout: 1000, bodyTimeout: 1000 });
        return r.statusCode === 200 ? ((await r.body.json()) as { leader: number | null; role: string; member?: string }) : null;
      } catch {
        return null;
      }
    };
    const leader = async () => {
      for (let i = 0; i < slots; i++) {
        if (!isActive(i)) continue;
        const s = await status(i);
        if (s?.role === "leader") return i;
      }
      return null;
    };
    const nodes: NodeControl = {
      count: slots,
      isRunning,
      isActive,
      start,
      kill,
      signal: (i, sig) => {
        if (isRunning(i)) procs[i]!.kill(sig);
      },
      leader,
    };
    const member = withMembers
      ? new MemberNemesis(
          {
            count: slots,
            hosts: net.nodeIps,
            address: addressOf,
            url: (i) => nodeUrls[i]!,
            agent,
            isRunning,
            isActive,
            leader,
            launchJoin: async (i, via) => {
              await kill(i);
              // A new member must start from an empty data dir; the old one is kept aside for the post-mortem.
              if (existsSync(dataDir(i))) renameSync(dataDir(i), join(nodeDir(i), `data-set-aside-${++setAside[i]!}`));
              modes[i] = "joined";
              vias[i] = via;
              spawnNode(i, { kind: "join", via: addressOf(via), self: addressOf(i) });
            },
            retire: (i) => {
              modes[i] = "retired";
            },
          },
          log,
        )
      : undefined;

    /** The newest membership that a running slot the harness keeps reports (null: none answered). */
    const newestMembers = async (): Promise<MembersJson | null> => {
      const got = await Promise.all(nodeUrls.map((u, i) => (isActive(i) && isRunning(i) ? fetchMembers(u, agent) : null)));
      let best: MembersJson | null = null;
      for (const m of got) if (m !== null && (best === null || m.config_slot > best.config_slot)) best = m;
      return best;
    };
    /** Waits until every voter answers and names the same leader; returns that leader's id. */
    const waitForLeader = async (ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const m = withMembers ? await newestMembers() : null;
        const voters =
          m === null
            ? Array.from({ length: slots }, (_, i) => i).filter(isActive)
            : m.members.filter((x) => x.role === "voter").map((x) => slotOfAddress(x.address, theNet.nodeIps) ?? -1);
        const sts = await Promise.all(voters.map((i) => (i < 0 ? null : status(i))));
        const first = sts[0]?.leader ?? null;
        if (voters.length > 0 && first !== null && sts.every((s) => s !== null && s.leader === first)) return first;
        await new Promise((r) => setTimeout(r, 100));
      }
      return null;
    };

    for (let i = 0; i < slots; i++) start(i);
    const first = await waitForLeader(15_000);
    if (first === null) throw new Error("the cluster elected no leader within 15 s of starting");
    const spares = slots > o.nodes ? ` and ${slots - o.nodes} spare slot(s) for the member nemesis` : "";
    log(`cluster up: ${o.nodes} nodes at ${nodeUrls.slice(0, o.nodes).join(", ")}${spares}${certs ? " (mutual TLS: peers and clients)" : ""}, leader ${first}; results in ${dir}`);
    const clientCert = certs === null ? "" : ` (a browser needs the client certificate ${certs.client.certFile} and key, and to trust ${certs.client.caFile})`;
    log(`live page: ${nodeUrls[0]}/ui${clientCert}: the cluster as node 0 sees it, with the nemesis's current fault; any node's /ui works`);

    const t0 = process.hrtime.bigint();
    const clock = () => Number(process.hrtime.bigint() - t0);
    const endAt = Date.now() + o.timeLimitS * 1000;
    const stopped = () => Date.now() >= endAt;
    // The evidence of membership changes comes from the nodes, not from the nemesis's own account.
    const observerAgent = clientAgent(certs?.client ?? null, 400);
    const observer = new MembershipObserver(nodeUrls, observerAgent, clock);
    observer.start();
    const completed = { ok: 0, info: 0, fail: 0 };
    const runStart = Date.now();
    progress.start(o.timeLimitS, "jepsen", {
      unit: "s",
      rate: false,
      poll: () => ({
        done: Math.min(o.timeLimitS, Math.floor((Date.now() - runStart) / 1000)),
        extra: `${completed.ok + completed.info + completed.fail} ops (${completed.ok} ok, ${completed.info} info, ${completed.fail} fail)`,
      }),
    });
    const onComplete = (e: HistoryEvent) => {
      if (e.type !== "invoke") completed[e.type]++;
    };
    const [history, intervals] = await Promise.all([
      runWorkload({ nodeUrls, concurrency: o.concurrency, rate: o.rate, reads: o.reads, requestTimeoutMs: o.requestTimeoutMs, clock, shouldStop: stopped, tls: certs?.client ?? null, onComplete }),
      o.nemeses.length === 0 || (o.nemeses.length === 1 && o.nemeses[0] === "none")
        ? Promise.resolve<NemesisInterval[]>([])
        : runNemesis({
            kinds: o.nemeses,
            net,
            nodes,
            healthyMs: o.healthyS * 1000,
            faultyMs: o.faultyS * 1000,
            clock,
            stopped,
            log,
            ...(member ? { member } : {}),
            onFault: (f) => {
              currentFault = f === null ? null : { ...f, since: Date.now() };
              annotate();
            },
          }),
    ]);
    progress.stop();
    await observer.stop();
    await observerAgent.close();
    const membership = deriveMembership(observer.samples, net.nodeIps, clock(), withMembers);

    // Heal everything, wait, and check that the cluster serves again through every member.
    await heal(net);
    for (let i = 0; i < slots; i++) {
      if (!isRunning(i)) start(i);
      else nodes.signal(i, "SIGCONT");
    }
    const finalCheck = await serveCheck(nodeUrls, waitForLeader, agent, withMembers ? newestMembers : null, theNet.nodeIps, (i) => modes[i] === "retired" && isRunning(i));
    log(`final check: ${finalCheck.detail}`);
    if (withMembers) log(`membership: ${membership.check.detail}; the nemesis made ${member?.changes ?? 0} change(s)`);

    for (let i = 0; i < slots; i++) if (isRunning(i)) procs[i]!.kill("SIGTERM");
    await Promise.all(procs.map((p) => (p && p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once("exit", r)) : null)));

    const verdict = checkHistory(historyFromEvents(history), { model: o.model, timeoutMs: 120_000, onProgress: phased(progress, "jepsen check", "ops") });
    progress.stop();
    const results = summarize(o, startedAt, history, intervals, finalCheck, verdict, slots, membership);
    writeResults(dir, results, history, observer.samples);
    // Two memberships for one config_slot is a safety violation, as a non-linearizable history is.
    const exitCode: 0 | 1 | 2 =
      verdict.valid === false || membership.conflicts.length > 0 ? 1 : verdict.valid === true ? (finalCheck.ok && membership.check.ok ? 0 : 2) : 2;
    log(
      `${results.valid === true ? "VALID" : results.valid === false ? "NOT LINEARIZABLE" : "UNKNOWN"} (${o.model}): ` +
        `${results.counts.ok} ok, ${results.counts.info} info, ${results.counts.fail} fail; p50 ${results.latencyMs.p50} ms, p99 ${results.latencyMs.p99} ms`,
    );
    if (results.explanation) log(results.explanation);
    if (!membership.check.ok) log(`membership check FAILED: ${membership.check.detail}`);
    log(`report: ${join(dir, "index.html")}`);
    return { exitCode, dir, results };
  } finally {
    clearInterval(annotationsTimer);
    progress.stop();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    cleanup();
  }
}

/**
 * After healing: a leader, and an append through every member's node. With
 * membership changes the members are the newest membership's; a removed node
 * whose process still runs must not apply an append (it answers 503).
 */
async function serveCheck(
  nodeUrls: readonly string[],
  waitForLeader: (ms: number) => Promise<number | null>,
  agent: Dispatcher,
  newestMembers: (() => Promise<MembersJson | null>) | null,
  hosts: readonly string[],
  isRemovedAndRunning: (i: number) => boolean,
): Promise<RunResults["finalCheck"]> {
  const leader = await waitForLeader(20_000);
  if (leader === null) return { ok: false, detail: "no leader within 20 s after healing" };
  let targets = nodeUrls.map((_, i) => i);
  let membersNote = "";
  if (newestMembers !== null) {
    const m = await newestMembers();
    if (m === null) return { ok: false, detail: `after healing, leader ${leader}, but no member answered GET /members` };
    targets = m.members.map((x) => slotOfAddress(x.address, hosts)).filter((i): i is number => i !== null);
    membersNote = ` (members at config_slot ${m.config_slot}: ${m.members.map((x) => `${x.id}:${x.role}@n${slotOfAddress(x.address, hosts)}`).join(" ")})`;
  }
  const append = async (i: number) => {
    const r = await request(`${nodeUrls[i]}/proposer/client-request`, {
      dispatcher: agent,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: 999_999_000 + i, command_id: 1, payload: -(i + 1) }),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    return { status: r.statusCode, text: await r.body.text() };
  };
  const problems: string[] = [];
  const notes: string[] = [];
  for (const i of targets) {
    try {
      const r = await append(i);
      if (r.status !== 200) problems.push(`node ${i}: HTTP ${r.status} ${r.text.slice(0, 120)}`);
    } catch (e) {
      problems.push(`node ${i}: ${(e as Error).message}`);
    }
  }
  for (let i = 0; i < nodeUrls.length; i++) {
    if (targets.includes(i) || !isRemovedAndRunning(i)) continue;
    try {
      const r = await append(i);
      if (r.status === 200) problems.push(`removed node ${i} applied an append: HTTP 200 ${r.text.slice(0, 120)}`);
      else notes.push(`removed node ${i}: HTTP ${r.status} ${r.text.slice(0, 100)}`);
    } catch (e) {
      notes.push(`removed node ${i}: ${(e as Error).message}`);
    }
  }
  const noted = notes.length === 0 ? "" : `; ${notes.join("; ")}`;
  return problems.length === 0
    ? { ok: true, detail: `after healing, leader ${leader}; an append through each of the ${targets.length} members succeeded${membersNote}${noted}` }
    : { ok: false, detail: `after healing: ${problems.join("; ")}${membersNote}${noted}` };
}

function summarize(
  o: LocalJepsenOptions,
  startedAt: Date,
  history: readonly HistoryEvent[],
  intervals: NemesisInterval[],
  finalCheck: RunResults["finalCheck"],
  verdict: ReturnType<typeof checkHistory>,
  slots: number,
  membership: MembershipObservation,
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
    slots,
    membership,
  };
}

/** Jepsen's EDN history shape, one map per line. */
function ednLine(e: HistoryEvent, index: number): string {
  const value = e.value === null ? "nil" : String(e.value);
  const state = e.state === null ? "" : `, :state [${e.state.join(" ")}]`;
  return `{:index ${index}, :time ${e.time}, :type :${e.type}, :process ${e.process}, :f :${e.f}, :value ${value}${state}}`;
}

function writeResults(dir: string, results: RunResults, history: readonly HistoryEvent[], samples: readonly MembershipSample[]): void {
  writeFileSync(join(dir, "membership.jsonl"), samples.map((x) => JSON.stringify(x)).join("\n") + "\n");
  writeFileSync(join(dir, "history.jsonl"), history.map((e) => JSON.stringify(e)).join("\n") + "\n");
  writeFileSync(join(dir, "history.edn"), history.map(ednLine).join("\n") + "\n");
  writeFileSync(join(dir, "results.json"), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(join(dir, "index.html"), renderReport(results, [...history]));
}
