// `paxos node`: runs one node of the cluster in this process.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
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

export async function runNode(configPath: string, o: NodeCommandOptions): Promise<void> {
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
