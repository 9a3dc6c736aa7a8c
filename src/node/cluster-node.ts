// The runtime around one PaxosCore: timers feed ticks, gRPC feeds messages,
// clients feed proposals; every Ready is made durable (fdatasync) before its
// messages leave and its results are answered. All I/O lives here and below.

import { randomInt } from "node:crypto";
import type { Logger } from "pino";
import { encodeDelivery, encodeMessage } from "../codec/wire.js";
import type { NodeAddress } from "../config/cluster-config.js";
import { formatBallot } from "../core/ballot.js";
import { PaxosCore, waitsForDurability } from "../core/paxos-core.js";
import type { ClientResult, Command, CoreConfig, Envelope, Message, NodeId, Outcome, Ready } from "../core/types.js";
import type { AppendRoute, NodeService, NodeStatus, ReadRoute, ReadRouteOptions, RouteOptions } from "../service/node-service.js";
import { DurableLog } from "../storage/durable-log.js";
import { CorruptLogError } from "../storage/record-file.js";
import { startGateway, type Gateway } from "../gateway/http-gateway.js";
import { GrpcServer, type PeerInbox } from "../transport/grpc-server.js";
import { DEFAULT_PEER_LINK_OPTIONS, PeerLink } from "../transport/peer-link.js";
import { nodeMetrics } from "./metrics.js";
import type { Registry } from "prom-client";

export interface Timing {
  /** Milliseconds per core tick. */
  readonly tickMs: number;
  readonly heartbeatTicks: number;
  readonly electionTicksMin: number;
  readonly electionTicksMax: number;
  readonly resendTicks: number;
}

export const DEFAULT_TIMING: Timing = {
  tickMs: 10,
  heartbeatTicks: 5, // 50 ms
  electionTicksMin: 30, // 300-600 ms without a leader starts an election
  electionTicksMax: 60,
  resendTicks: 20,
};

export interface ClusterNodeOptions {
  readonly nodes: readonly NodeAddress[];
  readonly self: NodeAddress;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly timing?: Timing;
  /** Longest a client request may take before it is answered "unknown". */
  readonly requestTimeoutMs?: number;
  /** Longest a request waits for an election when no leader is known. */
  readonly leaderWaitMs?: number;
  /** Address the servers bind to. */
  readonly bindHost?: string;
  /** Fold the applied log into a snapshot every this many slots (default 10,000). */
  readonly snapshotEvery?: number;
  /** HTTP requests in progress beyond which new ones are refused with 503 (default 10,000). */
  readonly maxInflightRequests?: number;
}

/** How long a request waits for a new leader after the current one failed it, before trying it again. */
const AVOID_LEADER_MS = 1500;

/** A node could not start (a port in use, an unreadable data directory...). */
export class NodeStartError extends Error {}

type Pending = { resolve: (r: ClientResult | null) => void; timer: NodeJS.Timeout };

export class ClusterNode implements NodeService, PeerInbox {
  readonly self: NodeAddress;
  readonly nodes: readonly NodeAddress[];
  private readonly log: Logger;
  private readonly timing: Timing;
  private readonly requestTimeoutMs: number;
  private readonly leaderWaitMs: number;
  private core!: PaxosCore;
  private durableLog!: DurableLog;
  private grpc!: GrpcServer;
  private gateway: Gateway | null = null;
  private readonly links = new Map<NodeId, PeerLink>();
  private ticker: NodeJS.Timeout | null = null;
  private readyScheduled = false;
  /** Resolves when every record handed to storage so far is durable. */
  private durable: Promise<void> = Promise.resolve();
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly leaderWatchers = new Set<() => void>();
  private clientRequests = 0;
  private metrics: Registry | null = null;
  private lastRole = "";
  private lastLeader: NodeId | null = null;
  private stopped = false;

  constructor(private readonly opts: ClusterNodeOptions) {
    this.self = opts.self;
    this.nodes = opts.nodes;
    this.log = opts.logger;
    this.timing = opts.timing ?? DEFAULT_TIMING;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.leaderWaitMs = opts.leaderWaitMs ?? 5_000;
  }

  /** Opens storage, then serves; on failure everything opened so far is closed again. */
  async start(): Promise<void> {
    try {
      await this.startServing();
    } catch (e) {
      await this.stop().catch(() => {});
      throw e instanceof CorruptLogError ? e : new NodeStartError(`node ${this.self.id} cannot start: ${(e as Error).message}`);
    }
  }

  private async startServing(): Promise<void> {
    const { log, snapshot, records, truncatedBytes } = await DurableLog.open(this.opts.dataDir);
    if (truncatedBytes > 0) this.log.warn({ truncatedBytes }, "cut a torn record off the end of the log (crash during a write)");
    this.durableLog = log;
    const seed = randomInt(2 ** 31); // randomness comes from the edge; the core only uses the seed
    const cfg: CoreConfig = {
      id: this.self.id,
      nodes: this.nodes.map((n) => n.id),
      heartbeatTicks: this.timing.heartbeatTicks,
      electionTicksMin: this.timing.electionTicksMin,
      electionTicksMax: this.timing.electionTicksMax,
      resendTicks: this.timing.resendTicks,
      seed,
      maxBatch: 512,
      maxInflight: 4,
      maxPending: 20_000,
      catchupBatch: 2_000,
      maxSessions: 100_000,
      snapshotEvery: this.opts.snapshotEvery ?? 10_000,
    };
    this.core = new PaxosCore(cfg, records, snapshot);
    const st = this.core.status();
    this.log.info(
      { snapshotUpTo: snapshot?.upTo ?? 0, records: records.length, promised: formatBallot(st.promised), commitIndex: st.commitIndex, listLength: st.listLength, seed },
      "recovered durable state",
    );
    for (const peer of this.nodes) {
      if (peer.id === this.self.id) continue;
      this.links.set(
        peer.id,
        new PeerLink(peer, DEFAULT_PEER_LINK_OPTIONS, (p, err) => this.log.debug({ peer: p.id, err: err.message }, "peer stream ended")),
      );
    }
    this.grpc = new GrpcServer({
      host: this.opts.bindHost ?? "0.0.0.0",
      port: this.self.grpcPort,
      inbox: this,
      service: this,
      requestTimeoutMs: this.requestTimeoutMs,
    });
    await this.grpc.start();
    this.gateway = await startGateway({
      service: this,
      host: this.opts.bindHost ?? "0.0.0.0",
      port: this.self.httpPort,
      logger: this.log,
      requestTimeoutMs: this.requestTimeoutMs,
      maxInflightRequests: this.opts.maxInflightRequests ?? 10_000,
    });
    this.ticker = setInterval(() => {
      this.core.tick();
      this.scheduleReady();
    }, this.timing.tickMs);
    this.log.info(
      { id: this.self.id, httpPort: this.self.httpPort, grpcPort: this.self.grpcPort, dataDir: this.opts.dataDir },
      "node started",
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    // Answer everything in flight first, so closing the gateway does not wait on it.
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(null);
    }
    this.pending.clear();
    for (const w of [...this.leaderWatchers]) w();
    await this.gateway?.close();
    for (const l of this.links.values()) l.close();
    await this.grpc?.close();
    await this.durable.catch(() => {});
    await this.durableLog?.close();
  }

  // ------------------------------------------------------- PeerInbox ----

  deliver(from: NodeId, messages: Message[]): void {
    if (this.stopped) return;
    for (const m of messages) this.core.step(from, m);
    this.scheduleReady();
  }

  // ----------------------------------------------------- NodeService ----

  /**
   * Any node serves an append while some node leads (see NodeService); with
   * no leader it waits (bounded) for an election. A request refused by a
   * leader that stepped down is tried again under the next leader: a retry
   * of the same command is deduplicated by the replicated session table.
   */
  async routeAppend(command: Command, opts: RouteOptions): Promise<AppendRoute> {
    let outcome: Outcome = "not_applied";
    let reason = "no leader was elected in time";
    for (;;) {
      const remaining = opts.deadline - Date.now();
      if (this.stopped) return { kind: "failed", outcome: "unknown", reason: "the node is shutting down" };
      if (remaining <= 0) return { kind: "failed", outcome, reason };
      if (!this.core.acceptsProposals()) {
        if (!(await this.leaderChange(Math.min(remaining, this.leaderWaitMs)))) return { kind: "failed", outcome, reason };
        continue;
      }
      const r = await this.request((id) => this.core.propose(id, command), remaining);
      if (r === null) return { kind: "failed", outcome: "unknown", reason: "timed out waiting for consensus" };
      if (r.kind === "appended") return { kind: "appended", index: r.index, duplicate: r.duplicate };
      if (r.kind !== "rejected") throw new Error(`an append got a ${r.kind} result`);
      if (r.outcome === "unknown") outcome = "unknown";
      if (r.reason === "overloaded") return { kind: "failed", outcome, reason: "the leader's queue is full (overloaded)" };
      if (r.reason === "stale") return { kind: "failed", outcome, reason: "a newer command of this client was already applied" };
      reason = "leadership changed while the request was in flight";
      if (!this.core.acceptsProposals()) await this.leaderChange(Math.min(opts.deadline - Date.now(), this.leaderWaitMs));
    }
  }

  /**
   * Serves a read here while this node leads, says where to forward it while
   * another does, and otherwise waits (bounded) for an election.
   */
  async routeRead(opts: ReadRouteOptions): Promise<ReadRoute> {
    let avoid = opts.avoidLeader;
    let reason = "no leader was elected in time";
    for (;;) {
      const remaining = opts.deadline - Date.now();
      if (this.stopped) return { kind: "failed", outcome: "not_applied", reason: "the node is shutting down" };
      if (remaining <= 0) return { kind: "failed", outcome: "not_applied", reason };
      const leader = this.core.status().leader;
      if (leader !== null && leader === avoid) {
        // That leader just failed us: give the cluster a moment to elect another, then try whoever leads.
        await this.leaderChange(Math.min(remaining, AVOID_LEADER_MS));
        avoid = undefined;
        continue;
      }
      if (leader === null || (leader !== this.self.id && !opts.mayForward)) {
        if (!(await this.leaderChange(Math.min(remaining, this.leaderWaitMs)))) return { kind: "failed", outcome: "not_applied", reason };
        continue;
      }
      if (leader !== this.self.id) return { kind: "forward", leader: this.nodes[leader]! };
      const r = await this.request((id) => this.core.read(id), remaining);
      if (r === null) return { kind: "failed", outcome: "not_applied", reason: "timed out waiting for a majority" };
      if (r.kind === "read") return { kind: "read", length: r.length };
      if (r.kind === "rejected" && r.reason === "overloaded") return { kind: "failed", outcome: "not_applied", reason: "the leader's queue is full (overloaded)" };
      reason = "leadership changed while the read was in flight";
      const now = this.core.status().leader;
      if (now === this.self.id || now === null) await this.leaderChange(Math.min(opts.deadline - Date.now(), this.leaderWaitMs));
    }
  }

  /** Hands one request to the core; resolves with its result, or null after `ms`. */
  private request(submit: (requestId: number) => void, ms: number): Promise<ClientResult | null> {
    const requestId = this.nextRequestId++;
    this.clientRequests++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        this.core.cancel(requestId); // a follower stops forwarding a command nobody waits for
        resolve(null);
      }, ms);
      this.pending.set(requestId, { resolve, timer });
      submit(requestId);
      this.scheduleReady();
    });
  }

  /** Resolves true when the known leader changes (or a leader appears), false after `ms`. */
  private leaderChange(ms: number): Promise<boolean> {
    if (ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (changed: boolean) => {
        clearTimeout(timer);
        this.leaderWatchers.delete(onChange);
        resolve(changed);
      };
      const onChange = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      this.leaderWatchers.add(onChange);
    });
  }

  listPrefix(n: number): readonly number[] {
    return this.core.list.values.slice(0, n);
  }

  listValues(): readonly number[] {
    return this.core.list.values;
  }

  /** Prometheus text exposition of this node's metrics. */
  metricsText(): Promise<string> {
    const links = () => [...this.links.values()];
    const sum = (f: (l: PeerLink) => number) => links().reduce((a, l) => a + f(l), 0);
    this.metrics ??= nodeMetrics({
      status: () => this.core.status(),
      fdatasyncs: () => this.durableLog.syncCount,
      logBytesWritten: () => this.durableLog.bytesWritten,
      peerBytesSent: () => sum((l) => l.bytesSent),
      peerMessagesSent: () => sum((l) => l.sent),
      peerMessagesDropped: () => sum((l) => l.dropped),
      clientRequests: () => this.clientRequests,
    });
    return this.metrics.metrics();
  }

  status(): NodeStatus {
    return { ...this.core.status(), peers: this.nodes.map((n) => `${n.host}:${n.httpPort}`) };
  }

  // ------------------------------------------------------ Ready loop ----

  private scheduleReady(): void {
    if (this.readyScheduled || this.stopped) return;
    this.readyScheduled = true;
    setImmediate(() => {
      this.readyScheduled = false;
      this.processReady();
    });
  }

  private processReady(): void {
    while (!this.stopped && this.core.hasReady()) {
      const rd = this.core.ready();
      if (rd.persist.length > 0) {
        this.durable = this.durableLog.append(rd.persist);
        this.durable.catch((e: unknown) => this.fatal(e));
      }
      // Persist before vote: a Promise or Accepted leaves only once its records (and all earlier ones)
      // are durable; everything else, client answers included, goes at once.
      const votes = rd.messages.filter((e) => waitsForDurability(e.msg));
      this.release(votes.length === rd.messages.length ? [] : rd.messages.filter((e) => !waitsForDurability(e.msg)), rd.results);
      if (votes.length > 0) void this.durable.then(() => this.release(votes, []), () => {});
    }
    this.noticeRoleChange();
  }

  private release(messages: readonly Envelope[], results: Ready["results"]): void {
    if (this.stopped) return;
    const byPeer = new Map<NodeId, Envelope[]>();
    let local = false;
    for (const env of messages) {
      if (env.to === this.self.id) {
        this.core.step(env.from, env.msg); // the node's own acceptor/learner
        local = true;
        continue;
      }
      let list = byPeer.get(env.to);
      if (list === undefined) byPeer.set(env.to, (list = []));
      list.push(env);
    }
    // A broadcast puts one Message object in several envelopes: encode it once.
    const encoded = new Map<Message, Uint8Array>();
    const bytesOf = (m: Message) => {
      let b = encoded.get(m);
      if (b === undefined) encoded.set(m, (b = encodeMessage(m)));
      return b;
    };
    for (const [to, envs] of byPeer) {
      this.links.get(to)?.send(encodeDelivery(this.self.id, to, envs.map((e) => bytesOf(e.msg))), envs.length);
    }
    for (const r of results) {
      const p = this.pending.get(r.requestId);
      if (p === undefined) continue; // timed out already
      this.pending.delete(r.requestId);
      clearTimeout(p.timer);
      p.resolve(r);
    }
    if (local) this.scheduleReady();
  }

  private noticeRoleChange(): void {
    const st = this.core.status();
    if (st.role !== this.lastRole || st.leader !== this.lastLeader) {
      this.log.info(
        { role: st.role, leader: st.leader, ballot: formatBallot(st.ownBallot ?? st.promised), commitIndex: st.commitIndex },
        "role changed",
      );
      const leaderChanged = st.leader !== this.lastLeader;
      this.lastRole = st.role;
      this.lastLeader = st.leader;
      if (leaderChanged) for (const w of [...this.leaderWatchers]) w();
    }
  }

  private fatal(e: unknown): void {
    this.log.fatal({ err: e }, "cannot make the log durable; stopping so no unpersisted vote is ever sent");
    process.exit(70);
  }
}
