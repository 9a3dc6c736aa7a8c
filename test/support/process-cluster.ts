// A real cluster for integration tests: one OS process per node, started
// with the project's own `paxos node` command (built into dist/ by `npm
// test`'s pretest step), talking real gRPC and HTTP on loopback, with real
// data directories. Tests kill nodes with real signals.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request, type Dispatcher } from "undici";
import { freePorts } from "../../src/config/free-ports.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const PAXOS_BIN = join(ROOT, "bin/paxos.js");

export interface HttpReply {
  status: number;
  body: unknown;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A free TCP port (see src/config/free-ports.ts for why not port 0). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

export async function httpJson(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number; dispatcher?: Dispatcher } = {},
): Promise<HttpReply> {
  const timeout = init.timeoutMs ?? 15_000;
  const res = await request(url, {
    ...(init.dispatcher === undefined ? {} : { dispatcher: init.dispatcher }),
    method: (init.method ?? "GET") as "GET",
    body: init.body,
    headers: init.headers,
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });
  const text = await res.body.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: tests look at text */
  }
  return { status: res.statusCode, body, text, headers: res.headers };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface NodeStatusJson {
  id: number;
  role: string;
  leader: number | null;
  ballot: { round: number; node: number };
  commit_index: number;
  applied_index: number;
  list_length: number;
  peers: string[];
  member: "voter" | "learner" | "removed" | "joining";
  config_slot: number;
}

/** How tests reach nodes started with --cert-file (and --client-cert-auth): the CA, and a client certificate. */
export interface ClusterHttps {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export class ProcessCluster {
  readonly dir: string;
  readonly configPath: string;
  private readonly procs = new Map<number, ChildProcess>();
  /** Per-node `paxos node` arguments that replace the cluster's extra arguments (see setExtraArgs). */
  private readonly nodeArgs = new Map<number, readonly string[]>();
  readonly logs = new Map<number, string[]>();
  /** Nodes beyond the config's: started with --join through the node given here (see addJoiner). */
  private readonly joinVia = new Map<number, number>();

  /** HTTPS for the cluster's own requests (status, state, append), when the nodes serve it. */
  private readonly dispatcher: Dispatcher | undefined;

  private constructor(
    readonly httpPorts: number[],
    readonly grpcPorts: number[],
    readonly peerPorts: number[],
    private readonly extraArgs: readonly string[],
    private readonly https: ClusterHttps | undefined,
    /** Whether nodes warm up before serving (src/node/warm-up.ts); off by default: tests want a fast start, and one test checks the warm-up. */
    private readonly warmUp: boolean,
    /** Extra environment variables of every node process (e.g. TMPDIR). */
    private readonly env: Readonly<Record<string, string>>,
  ) {
    // The nodes' certificate names "localhost" (the config's host), though we dial 127.0.0.1.
    this.dispatcher = https === undefined ? undefined : new Agent({ connect: { ...https, servername: "localhost" } });
    this.dir = mkdtempSync(join(tmpdir(), "paxos-it-"));
    this.configPath = join(this.dir, "config");
    writeFileSync(this.configPath, httpPorts.map((p, i) => `localhost:${p}:${grpcPorts[i]}:${peerPorts[i]}`).join("\n") + "\n");
  }

  /** Starts `size` nodes; `extraArgs` go to every `paxos node` command line; `opts.https` when they serve HTTPS. */
  static async start(
    size = 3,
    extraArgs: readonly string[] = [],
    opts: { https?: ClusterHttps; warmUp?: boolean; env?: Record<string, string> } = {},
  ): Promise<ProcessCluster> {
    const ports = await freePorts(3 * size);
    const c = new ProcessCluster(ports.slice(0, size), ports.slice(size, 2 * size), ports.slice(2 * size), extraArgs, opts.https, opts.warmUp ?? false, opts.env ?? {});
    for (let i = 0; i < size; i++) c.startNode(i);
    await c.waitForLeader();
    return c;
  }

  get size(): number {
    return this.httpPorts.length;
  }

  url(i: number, path: string): string {
    return `${this.https === undefined ? "http" : "https"}://127.0.0.1:${this.httpPorts[i]}${path}`;
  }

  dataDir(i: number): string {
    return join(this.dir, `node-${i}`);
  }

  /** Node i's address as a membership writes it: host:httpPort:grpcPort:peerPort. */
  memberAddress(i: number): string {
    return `localhost:${this.httpPorts[i]}:${this.grpcPorts[i]}:${this.peerPorts[i]}`;
  }

  /**
   * Starts a node that is not in the config: `paxos node --join` through
   * node `via`. It waits until it is added (paxos members add); returns its
   * index here (its member id is assigned by the cluster).
   */
  async addJoiner(via: number): Promise<number> {
    const [h, g, p] = await freePorts(3);
    this.httpPorts.push(h!);
    this.grpcPorts.push(g!);
    this.peerPorts.push(p!);
    const i = this.httpPorts.length - 1;
    this.joinVia.set(i, via);
    this.startNode(i);
    return i;
  }

  startNode(i: number): void {
    if (this.isRunning(i)) throw new Error(`node ${i} is running`);
    const via = this.joinVia.get(i);
    const who =
      via === undefined
        ? [this.configPath, "--self", String(i)]
        : ["--join", `localhost:${this.httpPorts[via]}:${this.grpcPorts[via]}:${this.peerPorts[via]}`, "--self", this.memberAddress(i)];
    const child = spawn(
      process.execPath,
      [PAXOS_BIN, "node", ...who, "--data-dir", this.dataDir(i), "--log-level", "info", ...(this.warmUp ? [] : ["--no-warm-up"]), ...(this.nodeArgs.get(i) ?? this.extraArgs)],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...this.env } },
    );
    const lines = this.logs.get(i) ?? [];
    this.logs.set(i, lines);
    child.stdout!.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean)));
    child.stderr!.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean)));
    this.procs.set(i, child);
  }

  /** Calls `f` with node i's exit code, and the signal that ended it if one did, when its process ends. */
  onExit(i: number, f: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    const p = this.procs.get(i);
    if (p === undefined) throw new Error(`node ${i} was never started`);
    p.once("exit", (code, signal) => f(code, signal));
  }

  /** From its next start on, node i runs with these arguments instead of the cluster's. */
  setExtraArgs(i: number, args: readonly string[]): void {
    this.nodeArgs.set(i, args);
  }

  isRunning(i: number): boolean {
    const p = this.procs.get(i);
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  /** Sends a signal and waits for the process to end. */
  async kill(i: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = this.procs.get(i);
    if (p === undefined || !this.isRunning(i)) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill(signal);
    await exited;
  }

  /** The OS process id of node i (for signals and /proc evidence). */
  pid(i: number): number {
    const p = this.procs.get(i);
    if (p?.pid === undefined || !this.isRunning(i)) throw new Error(`node ${i} is not running`);
    return p.pid;
  }

  /** SIGSTOP (pause) or SIGCONT (resume) node i; returns the state letter /proc shows afterwards ("T" while stopped). */
  async pause(i: number, paused: boolean): Promise<string> {
    const pid = this.pid(i);
    process.kill(pid, paused ? "SIGSTOP" : "SIGCONT");
    const want = paused ? "T" : "not T";
    for (let n = 0; n < 50; n++) {
      const state = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "")[0]!;
      if ((state === "T") === paused) return state;
      await sleep(10);
    }
    throw new Error(`node ${i} (pid ${pid}) did not reach process state ${want}`);
  }

  async restart(i: number): Promise<void> {
    await this.kill(i);
    this.startNode(i);
    await this.waitUntil(async () => (await this.status(i).catch(() => null)) !== null, 10_000, `node ${i} to answer after restart`);
  }

  async status(i: number): Promise<NodeStatusJson> {
    const r = await httpJson(this.url(i, "/status"), { timeoutMs: 2000, dispatcher: this.dispatcher });
    if (r.status !== 200) throw new Error(`status of node ${i}: HTTP ${r.status}`);
    return r.body as NodeStatusJson;
  }

  /** Waits until every running node agrees on one leader; returns its id. */
  async waitForLeader(timeoutMs = 15_000): Promise<number> {
    let leader = -1;
    await this.waitUntil(
      async () => {
        const ids = [...Array(this.size).keys()].filter((i) => this.isRunning(i));
        const sts = await Promise.all(ids.map((i) => this.status(i).catch(() => null)));
        if (sts.length === 0 || sts.some((s) => s === null)) return false;
        const l = sts[0]!.leader;
        if (l === null || !sts.every((s) => s!.leader === l) || !this.isRunning(l)) return false;
        if (sts.find((s) => s!.id === l)?.role !== "leader") return false;
        leader = l;
        return true;
      },
      timeoutMs,
      "a leader all running nodes agree on",
    );
    return leader;
  }

  async waitUntil(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await cond()) return;
      await sleep(50);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tailLogs()}`);
  }

  append(i: number, clientId: number, commandId: number, payload: number, timeoutMs?: number): Promise<HttpReply> {
    return httpJson(this.url(i, "/proposer/client-request"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: clientId, command_id: commandId, payload }),
      timeoutMs,
      dispatcher: this.dispatcher,
    });
  }

  async state(i: number): Promise<number[]> {
    const r = await httpJson(this.url(i, "/state"), { dispatcher: this.dispatcher });
    if (r.status !== 200) throw new Error(`GET /state on node ${i}: HTTP ${r.status} ${r.text}`);
    return (r.body as { state: number[] }).state;
  }

  tailLogs(n = 15): string {
    return [...this.logs].map(([i, l]) => `--- node ${i}\n${l.slice(-n).join("\n")}`).join("\n");
  }

  /** Stops every node (SIGKILL: tests must not depend on a clean shutdown) and removes the data. */
  async destroy(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((i) => this.kill(i)));
    await this.dispatcher?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
