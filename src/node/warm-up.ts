// A node warms itself up before it serves.
//
// A fresh Node process runs its hot paths in V8's interpreter and baseline
// tiers until each function has run often enough to be optimized: on the dev
// VM the first 750 appends of a fresh 1-client run took 4.3 ms at the median
// and twice the CPU per append of the same cluster once warm (2.1 ms). Node 20
// offers no compile cache for ES modules (module.enableCompileCache is Node
// 22), and its startup snapshot cannot hold user-land modules, so the node
// runs its own code first: a scratch 3-node cluster in this process (real
// HTTP, gRPC and fdatasync'd files, on loopback, in a temp dir) takes a few
// thousand appends from local clients and is thrown away. Instances of the
// same classes and closures share V8's type feedback and optimized code, so
// the node's own gateway, peer links, core and log then start warm. It costs
// startup time (measured in docs/performance.md), not correctness: nothing of
// the scratch cluster reaches the real one (other ports, other data, another
// cluster id), and a warm-up that fails only logs.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pino, { type Logger } from "pino";
import { Agent, request } from "undici";
import { parseNodeLine } from "../config/cluster-config.js";
import { CLUSTER_PORTS, freePorts } from "../config/free-ports.js";
import { bootstrapMembership } from "../core/membership.js";
import { APPEND_PATH } from "../gateway/http-gateway.js";
import { ClusterNode } from "./cluster-node.js";

export interface WarmUpOptions {
  /** Appends sent to the scratch cluster (default 3,000). */
  readonly appends?: number;
  /** Concurrent local clients (default 8): a mix of batch sizes, as real load has. */
  readonly clients?: number;
  /** The warm-up stops here even if appends remain (default 4 s). */
  readonly budgetMs?: number;
  /**
   * Ports the scratch cluster must not listen on: those of every member this node knows of, which
   * may run on this machine and bind theirs while this node warms up.
   */
  readonly avoidPorts?: readonly number[];
}

export interface WarmUpReport {
  readonly ms: number;
  readonly appends: number;
  /** The scratch cluster's directory (removed again). */
  readonly dir: string;
  /** The ports its three nodes listened on (HTTP, gRPC, peer of each). */
  readonly ports: readonly number[];
}

/**
 * Below both the ephemeral range (32768-60999 on Linux) and freePorts' default (CLUSTER_PORTS).
 * In the ephemeral range, a scratch listener could take a port that a test harness had just
 * picked with bind(0) and closed, for a node about to start, which then fails with EADDRINUSE
 * (the likeliest cause of a node of the Jepsen HTTP test's cluster that never came up in CI).
 * Here the scratch cluster can meet only a port something binds explicitly, and those of this
 * node's own cluster are avoided by name (avoidPorts).
 */
export const SCRATCH_PORTS = { low: 10_000, high: CLUSTER_PORTS.low - 1 } as const;

export const DEFAULT_WARM_UP: Required<WarmUpOptions> = { appends: 3000, clients: 8, budgetMs: 4000, avoidPorts: [] };

/** Runs the scratch cluster and removes it again; throws only if it could not be started. */
export async function warmUp(options: WarmUpOptions = {}): Promise<WarmUpReport> {
  const o = { ...DEFAULT_WARM_UP, ...options };
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "paxos-warm-up-"));
  // A node stopped (SIGTERM) during its warm-up exits from the signal handler: leave no scratch data behind.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", removeDir);
  const silent: Logger = pino({ level: "silent" });
  const nodes: ClusterNode[] = [];
  const agent = new Agent({ connections: o.clients, keepAliveTimeout: 10_000 });
  let done = 0;
  let ports: number[] = [];
  try {
    ports = await freePorts(9, SCRATCH_PORTS, new Set(o.avoidPorts));
    const lines = [0, 1, 2].map((i) => `127.0.0.1:${ports[3 * i]}:${ports[3 * i + 1]}:${ports[3 * i + 2]}`);
    const genesis = bootstrapMembership(lines);
    const clusterId = randomBytes(8).toString("hex");
    for (let i = 0; i < 3; i++) {
      nodes.push(
        new ClusterNode({ self: parseNodeLine(lines[i]!, i), genesis, clusterId, dataDir: join(dir, `node-${i}`), logger: silent, bindHost: "127.0.0.1" }),
      );
    }
    await Promise.all(nodes.map((n) => n.start()));
    const deadline = Date.now() + o.budgetMs;
    const client = async (c: number): Promise<void> => {
      const origin = `http://127.0.0.1:${ports[3 * (c % 3)]}`;
      // Full and minimal replies both, as clients ask for them.
      const headers = c % 2 === 0 ? { "content-type": "application/json" } : { "content-type": "application/json", prefer: "return=minimal" };
      for (let seq = 1; done < o.appends && Date.now() < deadline; seq++) {
        const body = `{"client_id":${c + 1},"command_id":${seq},"payload":${seq}}`;
        const res = await request(`${origin}${APPEND_PATH}`, { method: "POST", headers, body, dispatcher: agent });
        await res.body.arrayBuffer();
        done++;
      }
    };
    await Promise.all(Array.from({ length: o.clients }, (_, c) => client(c)));
  } finally {
    await agent.close().catch(() => {});
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
    process.removeListener("exit", removeDir);
    removeDir();
  }
  return { ms: Math.round(performance.now() - started), appends: done, dir, ports };
}
