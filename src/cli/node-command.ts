// `paxos node`: runs one node of the cluster in this process.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { setFlagsFromString } from "node:v8";
import { pino } from "pino";
import { findSelf, loadClusterConfig } from "../config/cluster-config.js";
import { ClusterNode, DEFAULT_TIMING } from "../node/cluster-node.js";

export interface NodeCommandOptions {
  self: string;
  port: number;
  dataDir?: string;
  logFile?: string;
  logLevel: string;
  requestTimeoutMs: number;
  tickMs: number;
  snapshotEvery: number;
}

/**
 * V8 grows its heap limit after each full GC by a factor it picks (up to 4x
 * the live data when allocation is fast). A node allocates fast but keeps
 * little (the list, bounded tables, at most 10,000 log entries), so it let
 * the heap fill with garbage: RSS after 100,000 appends was 169-212 MB. With
 * the limit at 1.4x the live data it was 155-160 MB, at the same ops/s (bench
 * long run, 2026-11-27). V8 reads this flag at every full GC, so setting it
 * here works; a --heap-growing-percent given to node itself wins.
 */
const HEAP_GROWING_PERCENT = 40;

function limitHeapGrowth(): void {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
  if (given.some((a) => /^--heap[-_]growing[-_]percent/.test(a))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

export async function runNode(configPath: string, o: NodeCommandOptions): Promise<void> {
  limitHeapGrowth();
  const nodes = loadClusterConfig(configPath, o.port);
  const self = findSelf(nodes, o.self);
  if (o.logFile) mkdirSync(dirname(o.logFile), { recursive: true });
  const logger = pino(
    { level: o.logLevel, base: { node: self.id } },
    o.logFile ? pino.destination({ dest: o.logFile, sync: false }) : pino.destination(1),
  );
  const node = new ClusterNode({
    nodes,
    self,
    dataDir: o.dataDir ?? `data/node-${self.id}`,
    logger,
    requestTimeoutMs: o.requestTimeoutMs,
    timing: { ...DEFAULT_TIMING, tickMs: o.tickMs },
    snapshotEvery: o.snapshotEvery,
  });
  await node.start();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    node.stop().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (e: unknown) => {
        logger.error({ err: e }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
