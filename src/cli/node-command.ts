// `paxos node`: runs one node of the cluster in this process.

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { dirname } from "node:path";
import { setFlagsFromString } from "node:v8";
import { WARM_UP_FAILED_MSG, WARMED_UP_MSG, warmUp } from "../node/warm-up.js";
import { pino } from "pino";
import { ConfigError, findSelf, loadClusterConfig, memberAddress, memberNodeAddress, parseNodeLine, type NodeAddress } from "../config/cluster-config.js";
import { bootstrapMembership, type Membership } from "../core/membership.js";
import { ClusterNode, DEFAULT_TIMING } from "../node/cluster-node.js";
import { joinCluster } from "../node/join.js";
import { clusterIdFor, DEFAULT_CLUSTER_TOKEN } from "../storage/cluster-identity.js";
import { MEMBER_FILE_NAME, readMemberFile, writeMemberFile } from "../storage/member-file.js";
import { describeMaterial, expiresSoon, loadTlsMaterial, TlsConfigError, type TlsMaterial } from "../tls/tls-material.js";
import type { ClientTls } from "../transport/client-grpc-server.js";
import { UsageError } from "./client-command.js";

export interface NodeCommandOptions {
  self?: string;
  /** A member's address (host:port...): join its running cluster instead of reading a config file. */
  join?: string;
  /** Record every request's steps, written to this file on stop (paxos bench --breakdown). */
  traceSteps?: string;
  /** Commander's --no-warm-up: false skips the warm-up. */
  warmUp?: boolean;
  /** A file a test harness rewrites with notes (its current fault) for the live page: src/ui/annotations.ts. */
  uiAnnotations?: string;
  port: number;
  dataDir?: string;
  logFile?: string;
  logLevel: string;
  requestTimeoutMs: number;
  tickMs: number;
  snapshotEvery: number;
  clusterToken?: string;
  peerCertFile?: string;
  peerKeyFile?: string;
  peerTrustedCaFile?: string;
  /** Accepted for etcd-style command lines: with peer TLS, client certificates are always required. */
  peerClientCertAuth?: boolean;
  certFile?: string;
  keyFile?: string;
  trustedCaFile?: string;
  clientCertAuth?: boolean;
}

/** The TLS settings of a node's command line, read from their files (again on SIGHUP). */
export interface NodeTls {
  peer: TlsMaterial | null;
  client: ClientTls | null;
}

/** Reads the certificate files the flags name; throws UsageError for flags that do not go together. */
export function loadNodeTls(o: NodeCommandOptions): NodeTls {
  const peerFiles = [o.peerCertFile, o.peerKeyFile, o.peerTrustedCaFile];
  if (peerFiles.some((f) => f !== undefined) && peerFiles.some((f) => f === undefined)) {
    throw new UsageError("peer TLS needs all three of --peer-cert-file, --peer-key-file and --peer-trusted-ca-file");
  }
  if (o.peerClientCertAuth && o.peerCertFile === undefined) throw new UsageError("--peer-client-cert-auth needs --peer-cert-file, --peer-key-file and --peer-trusted-ca-file");
  if ((o.certFile === undefined) !== (o.keyFile === undefined)) throw new UsageError("client TLS needs both --cert-file and --key-file");
  if ((o.clientCertAuth || o.trustedCaFile !== undefined) && o.certFile === undefined) {
    throw new UsageError("--client-cert-auth and --trusted-ca-file need --cert-file and --key-file (the gateway must serve HTTPS to ask for client certificates)");
  }
  if (o.clientCertAuth && o.trustedCaFile === undefined) throw new UsageError("--client-cert-auth needs --trusted-ca-file: the CA that signs client certificates");
  try {
    const peer =
      o.peerCertFile === undefined
        ? null
        : loadTlsMaterial(
            { certFile: o.peerCertFile, keyFile: o.peerKeyFile!, caFile: o.peerTrustedCaFile! },
            { cert: "--peer-cert-file", key: "--peer-key-file", ca: "--peer-trusted-ca-file" },
          );
    const client =
      o.certFile === undefined
        ? null
        : {
            material: loadTlsMaterial(
              { certFile: o.certFile, keyFile: o.keyFile!, caFile: o.trustedCaFile },
              { cert: "--cert-file", key: "--key-file", ca: "--trusted-ca-file" },
            ),
            clientCertAuth: o.clientCertAuth ?? false,
          };
    return { peer, client };
  } catch (e) {
    if (e instanceof TlsConfigError) throw new UsageError(e.message);
    throw e;
  }
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

/**
 * V8 optimizes a function once it has run a budget of bytecode, and waits
 * again after each change of its type feedback. Code that runs once per batch
 * (the Ready loop, log writes, peer sends) is where a lightly loaded node
 * spends its time, and it runs too rarely under the warm-up's batched load to
 * be optimized there; a fresh 1-client run then sped up over its first ~2,500
 * appends (p50 through a follower 1.9 -> 1.3 ms). With the budget at a quarter
 * and 100, not 500, calls after a feedback change, the first 1,000 appends of
 * a fresh 1-client run took 1.82 ms at the median instead of 1.93 (7
 * alternated pairs; 1.61 vs 1.89 in 4 earlier ones), no change cold or steady
 * at 32 clients (docs/performance.md). V8 reads both when it resets a
 * function's budget, so setting them here, before the node's code runs hot,
 * works.
 */
const TIER_UP_FLAGS = { "--interrupt-budget": 16_896, "--minimum-invocations-after-ic-update": 100 } as const;

/** The V8 flags above that `given` (node's own arguments and NODE_OPTIONS) does not set already. */
export function v8FlagsToSet(given: readonly string[]): string[] {
  const named = new Set(given.map((a) => a.replace(/_/g, "-").split("=")[0]));
  const flags: Record<string, number> = { "--heap-growing-percent": HEAP_GROWING_PERCENT, ...TIER_UP_FLAGS };
  return Object.entries(flags)
    .filter(([flag]) => !named.has(flag))
    .map(([flag, value]) => `${flag}=${value}`);
}

function tuneV8(): void {
  for (const flag of v8FlagsToSet([...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)])) setFlagsFromString(flag);
}

/** Who this node is and which cluster it belongs to: from the config file, or from the member file of a node that joined. */
interface NodeIdentity {
  self: NodeAddress;
  genesis: Membership;
  known?: Membership;
  clusterId: string;
  dataDir: string;
}

/** Every port this node and the members it knows of listen on (some may be on this machine). */
function portsOfKnownMembers(identity: NodeIdentity): number[] {
  const addresses = [identity.self, ...[identity.genesis, identity.known].flatMap((m) => (m === undefined ? [] : m.members.map((x) => memberNodeAddress(x.id, x.address))))];
  return addresses.flatMap((a) => [a.httpPort, a.grpcPort, a.peerPort]);
}

function identityFromConfig(configPath: string, o: NodeCommandOptions): NodeIdentity {
  if (o.self === undefined) throw new UsageError("which node of the config is this? give --self (its 0-based line, host, or host:port)");
  const nodes = loadClusterConfig(configPath, o.port);
  const self = findSelf(nodes, o.self);
  const dataDir = o.dataDir ?? `data/node-${self.id}`;
  if (existsSync(join(dataDir, MEMBER_FILE_NAME))) {
    throw new UsageError(`${dataDir} belongs to a node that joined the cluster (it has ${MEMBER_FILE_NAME}): start it without a config file`);
  }
  // The config bootstraps the membership (ids 0..n-1 in file order); afterwards the log is the truth.
  return { self, genesis: bootstrapMembership(nodes.map(memberAddress)), clusterId: clusterIdFor(o.clusterToken ?? DEFAULT_CLUSTER_TOKEN, nodes), dataDir };
}

export async function runNode(configPath: string | undefined, o: NodeCommandOptions): Promise<void> {
  tuneV8();
  if (configPath !== undefined && o.join !== undefined) throw new UsageError("--join replaces the config file: give one or the other");
  const tls = loadNodeTls(o);
  if (o.logFile) mkdirSync(dirname(o.logFile), { recursive: true });
  const root = pino({ level: o.logLevel }, o.logFile ? pino.destination({ dest: o.logFile, sync: false }) : pino.destination(1));
  const stopJoining = new AbortController();
  let node: ClusterNode | null = null;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    root.info({ signal }, "stopping");
    stopJoining.abort();
    (node?.stop() ?? Promise.resolve()).then(
      () => {
        root.flush();
        process.exit(0);
      },
      (e: unknown) => {
        root.error({ err: e }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));

  const logLoaded = (t: NodeTls, how: string) => {
    for (const [what, m] of [["peer", t.peer], ["client", t.client?.material ?? null]] as const) {
      if (m === null) continue;
      root.info(describeMaterial(m), `${what} TLS certificate ${how}`);
      const days = expiresSoon(m);
      if (days !== null) root.warn(describeMaterial(m), `${what} TLS certificate expires in ${days} days: make a new one and send SIGHUP`);
    }
  };
  // Certificate rotation: SIGHUP reads the files again; new connections use them. A bad file keeps the old ones.
  // Installed before the node starts: SIGHUP's default action would kill it while it replays its log.
  let started = false;
  process.on("SIGHUP", () => {
    if (!started) return void root.warn("SIGHUP while starting: ignored (send it again once the node has started)");
    try {
      const fresh = loadNodeTls(o);
      node?.reloadCertificates(fresh.peer, fresh.client);
      logLoaded(fresh, "reloaded (SIGHUP)");
      if (fresh.peer === null && fresh.client === null) root.info("SIGHUP: this node uses no TLS certificates; nothing to reload");
    } catch (e) {
      root.error({ err: (e as Error).message }, "SIGHUP: cannot reload the TLS certificates; keeping the ones in use");
    }
  });
  let identity: NodeIdentity;
  if (configPath !== undefined) {
    identity = identityFromConfig(configPath, o);
  } else {
    if (o.dataDir === undefined) throw new UsageError("a node without a config file (--join) needs --data-dir: its identity is kept there");
    let file = readMemberFile(o.dataDir);
    if (file === null) {
      if (o.join === undefined) throw new UsageError(`give a config file, or --join MEMBER to join a running cluster (${o.dataDir} has no ${MEMBER_FILE_NAME} of an earlier join)`);
      const where = (flag: string) => `${flag} address`;
      let self: NodeAddress;
      let member: NodeAddress;
      if (o.self === undefined) throw new UsageError("--join needs --self HOST:PORT: the address this node serves at, as the other nodes reach it");
      try {
        self = parseNodeLine(o.self, -1, o.port, where("--self"));
        member = parseNodeLine(o.join, -1, o.port, where("--join"));
      } catch (e) {
        if (e instanceof ConfigError) throw new UsageError(e.message);
        throw e;
      }
      mkdirSync(o.dataDir, { recursive: true });
      file = await joinCluster({
        member,
        self,
        peerTls: tls.peer,
        clientTls: tls.client,
        bindHost: "0.0.0.0",
        logger: root.child({ joining: memberAddress(self) }),
        requestTimeoutMs: o.requestTimeoutMs,
        signal: stopJoining.signal,
      }).catch((e: unknown) => {
        if (stopping) return null;
        throw e;
      });
      if (file === null) return; // stopped while waiting
      await writeMemberFile(o.dataDir, file);
    }
    identity = { self: memberNodeAddress(file.id, file.address), genesis: file.genesis, known: file.joined, clusterId: file.clusterId, dataDir: o.dataDir };
  }
  const self = identity.self;
  const logger = root.child({ node: self.id });
  node = new ClusterNode({
    self,
    genesis: identity.genesis,
    ...(identity.known === undefined ? {} : { known: identity.known }),
    clusterId: identity.clusterId,
    dataDir: identity.dataDir,
    logger,
    requestTimeoutMs: o.requestTimeoutMs,
    timing: { ...DEFAULT_TIMING, tickMs: o.tickMs },
    snapshotEvery: o.snapshotEvery,
    peerTls: tls.peer,
    clientTls: tls.client,
    ...(o.traceSteps === undefined ? {} : { traceStepsFile: o.traceSteps }),
    ...(o.uiAnnotations === undefined ? {} : { uiAnnotationsFile: o.uiAnnotations }),
  });
  if (stopping) return;
  if (o.warmUp !== false) {
    try {
      const r = await warmUp({ avoidPorts: portsOfKnownMembers(identity) });
      logger.info(
        {
          ms: r.ms,
          rounds: r.rounds,
          appends: r.appends,
          scratchDir: r.dir,
          scratchPorts: r.ports,
          portRetries: r.portRetries,
          snapshotRounds: r.snapshotRounds,
          orphanedScratchDirsRemoved: r.orphansRemoved,
        },
        WARMED_UP_MSG,
      );
    } catch (e) {
      logger.warn({ err: e }, WARM_UP_FAILED_MSG);
    }
  }
  if (stopping) return;
  await node.start();
  started = true;
  logLoaded(tls, "loaded");
}
