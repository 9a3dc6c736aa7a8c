// A node warms itself up before it serves.
//
// A fresh Node process runs its hot paths in V8's interpreter and baseline
// tiers until each function has run often enough to be optimized: on the dev
// VM the first 750 appends of a fresh 1-client run took 4.3 ms at the median
// and twice the CPU per append of the same cluster once warm (2.1 ms). Node 20
// offers no compile cache for ES modules (module.enableCompileCache is Node
// 22), and its startup snapshot cannot hold user-land modules, so the node
// runs its own code first: scratch 3-node clusters in this process (real
// HTTP, gRPC and fdatasync'd files, on loopback, in a temp dir) take a few
// thousand appends from local clients and are thrown away.
//
// Several short rounds, each on a fresh scratch cluster, not one long one:
// optimized code is specialized to the object shapes it has seen, and some
// shapes belong to one instance (Fastify builds its Request and Reply classes
// per server; a scratch cluster's teardown sends streams down paths serving
// never takes). After a single round the real node's first requests
// deoptimized the HTTP path and V8 spent its first ~8,000 appends compiling
// again (~180 functions recompiled per node, CPU per append twice the warm
// figure); after four rounds the code has seen several instances and a
// teardown, and the real node recompiles ~80 functions, not ~180, and is near
// its warm speed after ~2,000 appends (docs/performance.md).
// It costs startup time, not correctness: nothing of a scratch cluster
// reaches the real one (other ports, other data, another cluster id), and a
// warm-up that fails only logs.

import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pino, { type Logger } from "pino";
import { Agent, request } from "undici";
import { parseNodeLine } from "../config/cluster-config.js";
import { CLUSTER_PORTS, freePorts } from "../config/free-ports.js";
import { bootstrapMembership } from "../core/membership.js";
import { APPEND_PATH } from "../gateway/http-gateway.js";
import { processAlive } from "../storage/dir-lock.js";
import { SNAPSHOT_FILE_NAME } from "../storage/snapshot-file.js";
import { ClusterNode, DEFAULT_TIMING, type Timing } from "./cluster-node.js";

export interface WarmUpOptions {
  /** Scratch clusters, one after another (default 4). */
  readonly rounds?: number;
  /** Appends sent in all rounds together (default 3,000), split evenly over them. */
  readonly appends?: number;
  /** Concurrent local clients per round (default 16): a mix of batch sizes, as real load has. */
  readonly clients?: number;
  /** The warm-up stops here even if appends remain (default 8 s); each round gets a share of what is left. */
  readonly budgetMs?: number;
  /**
   * Ports the scratch cluster must not listen on: those of every member this node knows of, which
   * may run on this machine and bind theirs while this node warms up.
   */
  readonly avoidPorts?: readonly number[];
  /**
   * Picks a round's 9 ports (default: freePorts in SCRATCH_PORTS). A test passes one that hands out
   * a port it holds, to show a round whose port was taken is run again on others.
   */
  readonly pickPorts?: (count: number, avoid: ReadonlySet<number>) => Promise<number[]>;
}

export interface WarmUpReport {
  readonly ms: number;
  /** Rounds run (fewer than asked when the budget ran out). */
  readonly rounds: number;
  readonly appends: number;
  /** The directory holding every round's scratch data (removed again). */
  readonly dir: string;
  /** The ports the rounds' nodes listened on (HTTP, gRPC, peer of each node, 9 per round). */
  readonly ports: readonly number[];
  /** Rounds started again on other ports because one of theirs was taken between the pick and the bind. */
  readonly portRetries: number;
  /** Rounds whose three scratch nodes each wrote a snapshot (compacted), as SCRATCH_SNAPSHOT_EVERY is there for. */
  readonly snapshotRounds: number;
  /** Scratch directories of earlier warm-ups whose process had died (SIGKILL), removed first. */
  readonly orphansRemoved: readonly string[];
}

/**
 * A scratch directory is named after the process that made it:
 * `paxos-warm-up-<pid>-XXXXXX` in the OS temp dir. A node killed with
 * SIGKILL during its warm-up (Jepsen's kill nemesis does this, its restarts
 * land in the warm-up) runs no exit handler, so its directory stays behind;
 * the next warm-up on the machine removes every such directory whose process
 * no longer exists. Pids are this PID namespace's: nodes in other PID
 * namespaces (containers) must not share this temp dir (set TMPDIR apart).
 */
export const SCRATCH_DIR_PREFIX = "paxos-warm-up-";
const SCRATCH_DIR_NAME = /^paxos-warm-up-(\d+)-[A-Za-z0-9]{6}$/;

/** Removes the scratch directories in `parent` whose warm-up process is gone; returns their paths. */
export function removeOrphanedScratchDirs(parent: string = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    const pid = Number(SCRATCH_DIR_NAME.exec(name)?.[1] ?? NaN);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || processAlive(pid)) continue;
    const path = join(parent, name);
    try {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // another node's warm-up removing it at the same moment, or not ours to remove: leave it
    }
  }
  return removed;
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

/** The node's log messages after its warm-up (the bench reads them back from the log). */
export const WARMED_UP_MSG = "warmed up on scratch clusters in this process (--no-warm-up skips it)";
export const WARM_UP_FAILED_MSG = "warm-up failed; serving cold";

export const DEFAULT_WARM_UP: Required<WarmUpOptions> = {
  rounds: 4,
  appends: 3000,
  clients: 16,
  budgetMs: 8000,
  avoidPorts: [],
  pickPorts: (count, avoid) => freePorts(count, SCRATCH_PORTS, avoid),
};

/**
 * A port checked free can still be taken before the scratch node binds it: the three nodes of a
 * cluster started together on one machine warm up at the same moment, each picking 9 ports a
 * round from the same range (CI saw node 0's round fail with EADDRINUSE). Such a round is run
 * again on other ports, this many times in all, before the warm-up gives up.
 */
const MAX_PORT_RETRIES = 5;

/** True if `e`, or an error it wraps, is a listen that found its port taken. */
function isPortTaken(e: unknown): boolean {
  for (let err = e; err instanceof Error; err = err.cause) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE" || /EADDRINUSE/.test(err.message)) return true;
  }
  return false;
}

/**
 * Scratch clusters elect within 80-160 ms, not the real 300-600 (heartbeats every 20 ms, not 50):
 * a round's fixed cost is mostly waiting for its first leader, and loopback needs no patience.
 */
const SCRATCH_TIMING: Timing = { ...DEFAULT_TIMING, heartbeatTicks: 2, electionTicksMin: 8, electionTicksMax: 16 };

/**
 * A scratch node folds its log into a snapshot this often, not every 10,000
 * slots: compaction (the snapshot's encoding, list.bin's chunks, the
 * learner's compaction branch) then runs, and is optimized, before the node
 * serves. Left cold, the serving node's first compactions deoptimized it and
 * the code around it, and V8 recompiled for its first ~60,000 appends
 * (docs/performance.md).
 */
const SCRATCH_SNAPSHOT_EVERY = 250;

/** Runs the scratch clusters and removes them again; throws only if one could not be started. */
export async function warmUp(options: WarmUpOptions = {}): Promise<WarmUpReport> {
  const o = { ...DEFAULT_WARM_UP, ...options };
  const started = performance.now();
  const deadline = Date.now() + o.budgetMs;
  const orphansRemoved = removeOrphanedScratchDirs();
  const dir = mkdtempSync(join(tmpdir(), `${SCRATCH_DIR_PREFIX}${process.pid}-`));
  // A node stopped (SIGTERM) during its warm-up exits from the signal handler: leave no scratch data behind.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", removeDir);
  let appends = 0;
  let rounds = 0;
  let portRetries = 0;
  let snapshotRounds = 0;
  const ports: number[] = [];
  const avoid = new Set(o.avoidPorts);
  try {
    while (rounds < o.rounds && Date.now() < deadline) {
      const roundsLeft = o.rounds - rounds;
      const roundDeadline = Date.now() + (deadline - Date.now()) / roundsLeft;
      const want = Math.ceil((o.appends - appends) / roundsLeft);
      const roundPorts = await o.pickPorts(9, avoid);
      for (const p of roundPorts) avoid.add(p); // a later round, or a retry, takes others
      try {
        const round = await scratchRound(join(dir, `round-${rounds}-${portRetries}`), roundPorts, want, o.clients, roundDeadline);
        appends += round.appends;
        if (round.snapshotted) snapshotRounds++;
      } catch (e) {
        if (!isPortTaken(e) || portRetries >= MAX_PORT_RETRIES) throw e;
        portRetries++;
        continue;
      }
      ports.push(...roundPorts);
      rounds++;
    }
  } finally {
    process.removeListener("exit", removeDir);
    removeDir();
  }
  return { ms: Math.round(performance.now() - started), rounds, appends, dir, ports, portRetries, snapshotRounds, orphansRemoved };
}

/**
 * One scratch cluster: start it, send it `appends` appends (until `deadline`), stop it; returns the
 * appends made, and whether each of its nodes wrote a snapshot (its snapshot.bin exists).
 */
async function scratchRound(dir: string, ports: readonly number[], appends: number, clients: number, deadline: number): Promise<{ appends: number; snapshotted: boolean }> {
  const silent: Logger = pino({ level: "silent" });
  const nodes: ClusterNode[] = [];
  const agent = new Agent({ connections: clients, keepAliveTimeout: 10_000 });
  let done = 0;
  let snapshotted = false;
  try {
    const lines = [0, 1, 2].map((i) => `127.0.0.1:${ports[3 * i]}:${ports[3 * i + 1]}:${ports[3 * i + 2]}`);
    const genesis = bootstrapMembership(lines);
    const clusterId = randomBytes(8).toString("hex");
    for (let i = 0; i < 3; i++) {
      nodes.push(
        new ClusterNode({
          self: parseNodeLine(lines[i]!, i),
          genesis,
          clusterId,
          dataDir: join(dir, `node-${i}`),
          logger: silent,
          bindHost: "127.0.0.1",
          timing: SCRATCH_TIMING,
          snapshotEvery: SCRATCH_SNAPSHOT_EVERY,
        }),
      );
    }
    await Promise.all(nodes.map((n) => n.start()));
    const client = async (c: number): Promise<void> => {
      const origin = `http://127.0.0.1:${ports[3 * (c % 3)]}`;
      // Full and minimal replies both, as clients ask for them.
      const headers = c % 2 === 0 ? { "content-type": "application/json" } : { "content-type": "application/json", prefer: "return=minimal" };
      // Small numbers, as clients send: one past 2^31 would make V8 box every command's fields from then on.
      for (let seq = 1; done < appends && Date.now() < deadline; seq++) {
        const body = `{"client_id":${c + 1},"command_id":${seq},"payload":${seq}}`;
        const res = await request(`${origin}${APPEND_PATH}`, { method: "POST", headers, body, dispatcher: agent });
        await res.body.arrayBuffer();
        done++;
      }
    };
    await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
    snapshotted = [0, 1, 2].every((i) => existsSync(join(dir, `node-${i}`, SNAPSHOT_FILE_NAME)));
  } finally {
    await agent.close().catch(() => {});
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  }
  return { appends: done, snapshotted };
}
