// Which cluster a data directory belongs to.
//
// A cluster's id is fixed when it is bootstrapped, from a token and its
// initial members, in the manner of etcd's --initial-cluster-token: every
// node started from the same config and token computes the same id without
// talking to anyone. It is written into each node's data directory before
// the node's first vote, and every peer call carries it, so a node refuses
// traffic from a node of another cluster (say, a leftover node of an earlier
// Jepsen run on the same machines, still running with its old data) and
// refuses to start on another cluster's data directory. Give each cluster
// its own token; the default token suits one cluster per set of addresses.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeAddress } from "../config/cluster-config.js";
import { replaceFileDurably } from "./record-file.js";

export const CLUSTER_ID_FILE_NAME = "cluster-id";
export const DEFAULT_CLUSTER_TOKEN = "paxos-cluster";

export class ClusterMismatchError extends Error {}

/** 16 hex digits naming the cluster that `token` and these members bootstrap. */
export function clusterIdFor(token: string, nodes: readonly NodeAddress[]): string {
  const h = createHash("sha256");
  h.update("paxos-ts cluster v1\n");
  h.update(`${token}\n`);
  for (const n of nodes) h.update(`${n.host}:${n.httpPort}:${n.grpcPort}:${n.peerPort}\n`);
  return h.digest("hex").slice(0, 16);
}

/** The id recorded in a data directory, or null when it has none yet. */
export function readClusterId(dataDir: string): string | null {
  let text: string;
  try {
    text = readFileSync(join(dataDir, CLUSTER_ID_FILE_NAME), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  const id = text.trim();
  if (!/^[0-9a-f]{16}$/.test(id)) throw new ClusterMismatchError(`${join(dataDir, CLUSTER_ID_FILE_NAME)} does not hold a cluster id (16 hex digits): ${JSON.stringify(text.slice(0, 40))}`);
  return id;
}

/**
 * Makes sure the (locked) data directory belongs to cluster `expected`:
 * records it there if the directory has no id yet (a new node, or data
 * written before cluster ids existed), refuses when it names another.
 * Returns whether it recorded the id now.
 */
export async function claimDataDir(dataDir: string, expected: string): Promise<boolean> {
  const found = readClusterId(dataDir);
  if (found === expected) return false;
  if (found !== null) {
    throw new ClusterMismatchError(
      `data directory ${dataDir} belongs to cluster ${found}, but this node was started for cluster ${expected} ` +
        `(from --cluster-token and the config's members); start it with the token and config that cluster was bootstrapped with, or give it an empty data directory`,
    );
  }
  const path = join(dataDir, CLUSTER_ID_FILE_NAME);
  await replaceFileDurably(path, Buffer.from(`${expected}\n`));
  return true;
}
