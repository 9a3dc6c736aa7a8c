// The runtime around one PaxosCore: timers feed ticks, gRPC feeds messages,
// clients feed proposals; every Ready is made durable (fdatasync) before its
// messages leave and its results are answered. All I/O lives here and below.

import { randomInt } from "node:crypto";
import type { Logger } from "pino";
import { encodeDelivery, encodeMessage } from "../codec/wire.js";
import { memberAddress, memberNodeAddress, type NodeAddress } from "../config/cluster-config.js";
import { findMember, type Membership, type MembershipChange } from "../core/membership.js";
import { formatBallot } from "../core/ballot.js";
import { PaxosCore, syncNeeded, waitsForDurability } from "../core/paxos-core.js";
import type { ClientResult, Command, CoreConfig, Envelope, Message, NodeId, Outcome, Ready } from "../core/types.js";
import {
  membersView,
  type AppendRoute,
  type ChangeRoute,
  type MembersView,
  type NodeService,
  type NodeStatus,
  type ReadRoute,
  type RouteOptions,
} from "../service/node-service.js";
import { claimDataDir } from "../storage/cluster-identity.js";
import { DurableLog } from "../storage/durable-log.js";
import { CorruptLogError } from "../storage/record-file.js";
import { startGateway, type Gateway } from "../gateway/http-gateway.js";
import type { TlsMaterial } from "../tls/tls-material.js";
import { ClientGrpcServer, type ClientTls } from "../transport/client-grpc-server.js";
import { DEFAULT_PEER_LINK_OPTIONS, PeerLink, ReadIndexRefused, type LinkEvent } from "../transport/peer-link.js";
import { PeerServer, type ChangeAnswer, type PeerInbox, type PeerSecurity, type ReadIndexAnswer } from "../transport/peer-server.js";
import { nodeMetrics, primeMetricShapes } from "./metrics.js";
import type { MemberTls } from "../ui/cluster-view.js";
import { LiveStats } from "../ui/live-stats.js";
import { nodeUi } from "../ui/node-ui.js";
import { StepTrace } from "./step-trace.js";
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
  readonly self: NodeAddress;
  /** The membership the cluster was bootstrapped with (the config file's nodes), the same on every node. */
  readonly genesis: Membership;
  /** A newer membership already known: for a node that joined, the one that added it (member-file.ts). */
  readonly known?: Membership;
  /** The cluster's id (cluster-identity.ts): every peer call carries it. */
  readonly clusterId: string;
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
  /** Mutual TLS between peers; null or absent: plaintext peers. */
  readonly peerTls?: TlsMaterial | null;
  /** TLS for clients (HTTPS gateway, TLS on the client gRPC port); null or absent: plaintext. */
  readonly clientTls?: ClientTls | null;
  /** Record each request's steps and write them here on stop (step-trace.ts). */
  readonly traceStepsFile?: string;
  /** A file a test harness rewrites with notes for the live page, e.g. its current fault (src/ui/annotations.ts). */
  readonly uiAnnotationsFile?: string;
}

/** How long a request waits for a new leader after the current one failed it, before trying it again. */
const AVOID_LEADER_MS = 1500;
/** Longest one read-index request to the leader may take before the read is routed again (it may have been cut off). */
export const READ_INDEX_ATTEMPT_MS = 2000;

/** Messages not traced with --trace-steps: they flow whether or not requests do. */
const IDLE_MESSAGES: ReadonlySet<Message["type"]> = new Set(["heartbeat", "heartbeatAck"]);

/** How long links to a removed member stay open, so the Commit that tells it of its removal goes out. */
const RETIRE_LINK_MS = 5000;
/** Most links to nodes above this node's membership (added by changes it has not applied yet); one change adds one node. */
const MAX_NEWCOMER_LINKS = 4;
/** How often a change the leader cannot take yet (not_ready: its recovered slots are not chosen) is tried again. */
const CHANGE_RETRY_MS = 100;

/** The answer to a change that `after` shows done: the member it added, promoted or removed (from `before`). */
function changed(change: MembershipChange, after: Membership, before: Membership): ChangeRoute | null {
  const view = membersView(after);
  const id = change.kind === "add" ? after.members.find((x) => x.address === change.address)?.id : change.id;
  const member = view.members.find((x) => x.id === id) ?? membersView(before).members.find((x) => x.id === id);
  return member === undefined ? null : { kind: "changed", member, view };
}

/** A node could not start (a port in use, an unreadable data directory...). */
export class NodeStartError extends Error {}

type Pending = { resolve: (r: ClientResult | null) => void; timer: NodeJS.Timeout };

export class ClusterNode implements NodeService, PeerInbox {
  readonly self: NodeAddress;
  private readonly log: Logger;
  private readonly timing: Timing;
  private readonly requestTimeoutMs: number;
  private readonly leaderWaitMs: number;
  private core!: PaxosCore;
  private durableLog!: DurableLog;
  private peerServer: PeerServer | null = null;
  private clientGrpc: ClientGrpcServer | null = null;
  private gateway: Gateway | null = null;
  private security!: PeerSecurity;
  private clientTls: ClientTls | null = null;
  /** Reads waiting until this node's list is `length` long. */
  private readonly appliedWaiters = new Set<{ readonly length: number; resolve(reached: boolean): void }>();
  /** One link per other member, and per newcomer that reached this node before its membership did. */
  private readonly links = new Map<NodeId, PeerLink>();
  /** Links to removed members, closed after RETIRE_LINK_MS. */
  private readonly retiring = new Map<NodeId, NodeJS.Timeout>();
  private readonly membershipWatchers = new Set<() => void>();
  private ticker: NodeJS.Timeout | null = null;
  private readyScheduled = false;
  /** Inside processReady: a step that makes more output is picked up by its loop. */
  private inReady = false;
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
  readonly steps: StepTrace | null;
  /** What the live page (GET /ui) shows beyond the core's status: peer contact, requests' latency, elections. */
  private readonly live: LiveStats;

  constructor(private readonly opts: ClusterNodeOptions) {
    this.self = opts.self;
    this.log = opts.logger;
    this.timing = opts.timing ?? DEFAULT_TIMING;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.leaderWaitMs = opts.leaderWaitMs ?? 5_000;
    this.steps = opts.traceStepsFile === undefined ? null : new StepTrace(opts.traceStepsFile, opts.self.id);
    // durableLog is set by start(); /status, which reads this, serves only after it.
    this.live = new LiveStats(opts.dataDir, () => (this.durableLog === undefined ? null : this.durableLog.recordBytes));
  }

  /** Opens storage, then serves; on failure everything opened so far is closed again. */
  async start(): Promise<void> {
    try {
      await primeMetricShapes(); // before this process's code runs hot (metrics.ts)
      await this.startServing();
    } catch (e) {
      await this.stop().catch(() => {});
      throw e instanceof CorruptLogError ? e : new NodeStartError(`node ${this.self.id} cannot start: ${(e as Error).message}`, { cause: e });
    }
  }

  private async startServing(): Promise<void> {
    const { genesis, clusterId } = this.opts;
    const { log, snapshot, records, truncatedBytes } = await DurableLog.open(this.opts.dataDir, genesis);
    this.durableLog = log;
    if (truncatedBytes > 0) this.log.warn({ truncatedBytes }, "cut a torn record off the end of the log (crash during a write)");
    // Before this node votes for anything, its data directory must belong to the cluster it was started for.
    if (await claimDataDir(this.opts.dataDir, clusterId)) this.log.info({ cluster: clusterId }, "recorded the cluster id in the data directory");
    this.security = { clusterId, tls: this.opts.peerTls ?? null };
    this.clientTls = this.opts.clientTls ?? null;
    if (this.security.tls === null) {
      this.log.warn({ peerPort: this.self.peerPort }, "peers are not authenticated (no --peer-cert-file): anyone who can reach the peer port can take part in consensus");
    }
    const seed = randomInt(2 ** 31); // randomness comes from the edge; the core only uses the seed
    const cfg: CoreConfig = {
      id: this.self.id,
      genesis,
      ...(this.opts.known === undefined ? {} : { known: this.opts.known }),
      heartbeatTicks: this.timing.heartbeatTicks,
      electionTicksMin: this.timing.electionTicksMin,
      electionTicksMax: this.timing.electionTicksMax,
      resendTicks: this.timing.resendTicks,
      seed,
      maxBatch: 512,
      maxInflight: 4,
      // Measured A/B (docs/performance.md): fuller batches under load, and one hop less through a follower when idle.
      minPipelinedBatch: 32,
      acceptedToAllUpTo: 2,
      // Thrifty: a larger batch asks only a quorum to vote (one fdatasync fewer per batch); 10-20 ms of
      // silence from one it asked and every acceptor is asked.
      thriftyFallbackTicks: 2,
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
    this.reconcileLinks(this.core.membership());
    const host = this.opts.bindHost ?? "0.0.0.0";
    this.peerServer = new PeerServer({ host, self: this.self, inbox: this, security: this.security, logger: this.log });
    await this.peerServer.start();
    this.clientGrpc = new ClientGrpcServer({
      host,
      port: this.self.grpcPort,
      service: this,
      requestTimeoutMs: this.requestTimeoutMs,
      tls: this.opts.clientTls ?? null,
      logger: this.log,
      maxInflightRequests: this.opts.maxInflightRequests ?? 10_000,
    });
    await this.clientGrpc.start();
    this.gateway = await startGateway({
      service: this,
      host,
      port: this.self.httpPort,
      logger: this.log,
      requestTimeoutMs: this.requestTimeoutMs,
      maxInflightRequests: this.opts.maxInflightRequests ?? 10_000,
      tls: this.opts.clientTls ?? null,
      ui: nodeUi({ service: this, stats: this.live, tls: () => this.memberTls(), annotationsFile: this.opts.uiAnnotationsFile }),
    });
    this.ticker = setInterval(() => {
      this.core.tick();
      this.scheduleReady();
    }, this.timing.tickMs);
    this.log.info(
      {
        id: this.self.id,
        cluster: clusterId,
        httpPort: this.self.httpPort,
        grpcPort: this.self.grpcPort,
        peerPort: this.self.peerPort,
        peerTls: this.security.tls !== null,
        clientTls: this.opts.clientTls ? (this.opts.clientTls.clientCertAuth ? "client certificates required" : "server only") : false,
        dataDir: this.opts.dataDir,
      },
      "node started",
    );
  }

  /** New certificates (SIGHUP): used by every connection made from now on; peer links reconnect with them at once. */
  reloadCertificates(peerTls: TlsMaterial | null, clientTls: ClientTls | null): void {
    // The servers first: they are what may refuse the new material (and then nothing has changed yet).
    if (peerTls !== null) this.peerServer?.reload(peerTls);
    if (clientTls !== null) {
      this.clientGrpc?.reload(clientTls.material);
      this.gateway?.reloadTls(clientTls.material);
      this.clientTls = clientTls;
    }
    if (peerTls !== null) {
      this.security = { ...this.security, tls: peerTls };
      for (const l of this.links.values()) l.reload(this.security);
    }
  }

  /**
   * GET /cluster asks the other members for their /status as this node's
   * gateway is served: over HTTPS with this node's certificate (node
   * certificates carry clientAuth), trusting its client CA, or else its peer CA.
   */
  private memberTls(): MemberTls | null {
    const m = this.clientTls?.material;
    return m === undefined ? null : { cert: m.cert, key: m.key, ca: m.ca ?? this.security.tls?.ca ?? null };
  }

  private onLinkEvent(peer: NodeAddress, e: LinkEvent): void {
    if (e.kind === "removed") {
      this.core.learnRemoval(e.membership);
      this.scheduleReady();
      return;
    }
    this.live.linkEvent(peer.id, e.kind, e.kind === "up" ? null : e.error);
    if (e.kind === "up") this.log.info({ peer: peer.id }, `peer link to node ${peer.id} is up`);
    else this.log.warn({ peer: peer.id, error: e.error }, e.kind === "refused" ? `node ${peer.id} refuses this node's peer traffic` : `cannot reach node ${peer.id}`);
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
    for (const w of [...this.appliedWaiters]) w.resolve(false);
    await this.gateway?.close();
    for (const l of this.links.values()) l.close();
    for (const t of this.retiring.values()) clearTimeout(t);
    for (const w of [...this.membershipWatchers]) w();
    await this.clientGrpc?.close();
    await this.peerServer?.close();
    await this.durable.catch(() => {});
    await this.durableLog?.close();
    this.steps?.save();
  }

  // ------------------------------------------------------- PeerInbox ----

  deliver(from: NodeId, messages: Message[]): void {
    if (this.stopped) return;
    if (this.steps !== null) for (const m of messages) if (!IDLE_MESSAGES.has(m.type)) this.steps.record(`recv ${m.type}`);
    this.live.heard(from);
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
    const started = performance.now();
    const r = await this.appendThroughLeader(command, opts);
    this.live.ops.record(performance.now() - started, r.kind !== "failed"); // for the live page
    return r;
  }

  private async appendThroughLeader(command: Command, opts: RouteOptions): Promise<AppendRoute> {
    let outcome: Outcome = "not_applied";
    let reason = "no leader was elected in time";
    for (;;) {
      const remaining = opts.deadline - Date.now();
      if (this.stopped) return { kind: "failed", outcome: "unknown", reason: "the node is shutting down" };
      if (remaining <= 0) return { kind: "failed", outcome, reason };
      if (this.core.isRemoved()) return { ...this.removedFailure(), outcome }; // an earlier attempt may still be chosen
      if (!this.core.acceptsProposals()) {
        if (!(await this.leaderChange(Math.min(remaining, this.leaderWaitMs)))) return { kind: "failed", outcome, reason };
        continue;
      }
      this.steps?.record("propose");
      const r = await this.request((id) => this.core.propose(id, command), remaining);
      if (r === null) return { kind: "failed", outcome: "unknown", reason: "timed out waiting for consensus" };
      if (r.kind === "appended") return { kind: "appended", index: r.index, duplicate: r.duplicate };
      if (r.kind !== "rejected") throw new Error(`an append got a ${r.kind} result`);
      if (r.outcome === "unknown") outcome = "unknown";
      if (r.reason === "overloaded") return { kind: "failed", outcome, reason: "the leader's queue is full (overloaded)" };
      if (r.reason === "stale") return { kind: "failed", outcome, reason: "a newer command of this client was already applied" };
      if (r.reason === "removed") return { ...this.removedFailure(), outcome };
      reason = "leadership changed while the request was in flight";
      if (!this.core.acceptsProposals()) await this.leaderChange(Math.min(opts.deadline - Date.now(), this.leaderWaitMs));
    }
  }

  /**
   * A linearizable read through any node (the read-index technique). The
   * leader confirms with a majority, by a heartbeat sent after the read
   * arrived, that it still leads, and reads its list's length at that point.
   * A follower asks the leader for that length over the peer protocol (as
   * etcd's followers send MsgReadIndex) and serves its own list's prefix of
   * that length once it has applied that far: the logs agree, so it is the
   * leader's prefix, and the list never crosses between nodes. A leader
   * that does not answer within READ_INDEX_ATTEMPT_MS (it may have been cut
   * off) is avoided for a moment, then the read goes to whoever leads.
   */
  async routeRead(opts: RouteOptions): Promise<ReadRoute> {
    const started = performance.now();
    const r = await this.readThroughLeader(opts);
    this.live.ops.record(performance.now() - started, r.kind !== "failed"); // for the live page
    return r;
  }

  private async readThroughLeader(opts: RouteOptions): Promise<ReadRoute> {
    const failed = (reason: string): ReadRoute => ({ kind: "failed", outcome: "not_applied", reason }); // a read changes nothing
    let avoid: NodeId | undefined;
    let reason = "no leader was elected in time";
    for (;;) {
      const remaining = opts.deadline - Date.now();
      if (this.stopped) return failed("the node is shutting down");
      if (this.core.isRemoved()) return this.removedFailure();
      if (remaining <= 0) return failed(reason);
      const leader = this.core.status().leader;
      if (leader !== null && leader === avoid) {
        // That leader just failed us: give the cluster a moment to elect another, then try whoever leads.
        await this.leaderChange(Math.min(remaining, AVOID_LEADER_MS));
        avoid = undefined;
        continue;
      }
      if (leader === null) {
        if (!(await this.leaderChange(Math.min(remaining, this.leaderWaitMs)))) return failed(reason);
        continue;
      }
      if (leader === this.self.id) {
        const r = await this.readIndex(opts.deadline);
        if (r.kind === "length") return { kind: "read", length: r.length };
        reason = r.reason;
        if (r.overloaded) return failed(reason);
        const now = this.core.status().leader;
        if (now === this.self.id || now === null) await this.leaderChange(Math.min(opts.deadline - Date.now(), this.leaderWaitMs));
        continue;
      }
      const link = this.links.get(leader);
      if (link === undefined) {
        avoid = leader; // a leader this node has no address for yet (it lags): wait for its membership
        continue;
      }
      let length: number;
      try {
        length = await link.readIndex(Math.min(opts.deadline, Date.now() + READ_INDEX_ATTEMPT_MS));
      } catch (e) {
        reason = `asking leader ${leader} for a read index failed: ${(e as Error).message}`;
        if (e instanceof ReadIndexRefused && e.overloaded) return failed(reason); // trying again only adds load
        avoid = leader;
        continue;
      }
      if (await this.appliedUpTo(length, opts.deadline)) return { kind: "read", length };
      return failed(`timed out applying the log up to the leader's read index (list length ${length})`);
    }
  }

  /**
   * PeerInbox: a read index, served only while this node leads; a follower
   * asks for it on behalf of its client (see routeRead).
   */
  async readIndex(deadline: number): Promise<ReadIndexAnswer> {
    const leader = this.core.status().leader;
    if (leader !== this.self.id) return { kind: "refused", reason: `node ${this.self.id} does not lead (it believes in ${leader ?? "no leader"})` };
    const r = await this.request((id) => this.core.read(id), deadline - Date.now());
    if (r === null) return { kind: "refused", reason: "timed out waiting for a majority to confirm the leader" };
    if (r.kind === "read") return { kind: "length", length: r.length };
    if (r.kind === "rejected" && r.reason === "overloaded") return { kind: "refused", reason: "the leader's queue is full (overloaded)", overloaded: true };
    return { kind: "refused", reason: "leadership changed while the read was in flight" };
  }

  /** Resolves true once this node's list is at least `length` long, false at the deadline (or when the node stops). */
  private appliedUpTo(length: number, deadline: number): Promise<boolean> {
    if (this.core.list.length >= length) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = {
        length,
        resolve: (reached: boolean) => {
          clearTimeout(timer);
          this.appliedWaiters.delete(waiter);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => waiter.resolve(false), Math.max(0, deadline - Date.now()));
      this.appliedWaiters.add(waiter);
    });
  }

  private wakeAppliedWaiters(): void {
    if (this.appliedWaiters.size === 0) return;
    const have = this.core.list.length;
    for (const w of [...this.appliedWaiters]) if (w.length <= have) w.resolve(true);
  }

  /** Hands one request to the core; resolves with its result, or null after `ms`. */
  private request(submit: (requestId: number) => void, ms: number): Promise<ClientResult | null> {
    if (this.stopped) return Promise.resolve(null);
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
      thriftyFallbacks: () => this.core.thriftyFallbacks,
      certificateExpiry: () => ({
        peer: this.security.tls === null ? null : Date.parse(this.security.tls.leaf.validTo),
        client: this.clientTls === null ? null : Date.parse(this.clientTls.material.leaf.validTo),
      }),
    });
    return this.metrics.metrics();
  }

  status(): NodeStatus {
    const view = membersView(this.core.membership());
    return { ...this.core.status(), peers: view.members.map((m) => m.address), clusterId: this.security.clusterId, members: view };
  }

  members(): MembersView {
    return membersView(this.core.membership());
  }

  // ------------------------------------------------------ membership ----

  /** PeerInbox: who may send to this node. */
  membership(): Membership {
    return this.core.membership();
  }

  /** PeerInbox: a node added by a change this node has not applied yet reached it; replies go to its address. */
  noteNewcomer(address: NodeAddress): void {
    if (this.links.has(address.id) || this.stopped) return;
    // Bounded: ids above the membership's are claimed by their senders (authenticated only by the CA).
    const m = this.core.membership();
    if ([...this.links.keys()].filter((id) => id >= m.nextId).length >= MAX_NEWCOMER_LINKS) return;
    this.log.info({ peer: address.id, address: memberAddress(address) }, `node ${address.id} takes part before this node learned of it (this node lags); answering it`);
    this.links.set(address.id, this.newLink(address));
  }

  /** PeerInbox: what a node started with --join needs. */
  joinInfo(): { clusterId: string; genesis: Membership; membership: Membership } {
    return { clusterId: this.security.clusterId, genesis: this.opts.genesis, membership: this.core.membership() };
  }

  private newLink(peer: NodeAddress): PeerLink {
    return new PeerLink({ id: this.self.id, address: memberAddress(this.self) }, peer, this.security, DEFAULT_PEER_LINK_OPTIONS, (p, e) => this.onLinkEvent(p, e));
  }

  /**
   * Peer links follow the membership: a link to each new member; a link to
   * a removed one lives RETIRE_LINK_MS more, so the leader's last Commit,
   * which tells it of its removal, goes out. A newcomer's link (above the
   * membership's ids) stays until its own change arrives. A removed node
   * keeps its links to the members for as long as it runs: a member that
   * has not learned the removal chosen may need its chosen values to catch
   * up or be elected (the core's one courtesy), and the links carry nothing
   * else (streams open on the first send).
   */
  private reconcileLinks(m: Membership): void {
    for (const x of m.members) {
      if (x.id === this.self.id || this.links.has(x.id)) continue;
      this.links.set(x.id, this.newLink(memberNodeAddress(x.id, x.address)));
    }
    for (const id of this.links.keys()) {
      const gone = findMember(m, id) === undefined && id < m.nextId;
      if (!gone || this.retiring.has(id)) continue;
      const timer = setTimeout(() => {
        this.retiring.delete(id);
        this.links.get(id)?.close();
        this.links.delete(id);
      }, RETIRE_LINK_MS);
      timer.unref();
      this.retiring.set(id, timer);
    }
  }

  private onMembership(m: Membership): void {
    this.reconcileLinks(m);
    const me = findMember(m, this.self.id);
    this.log.info(
      { configSlot: m.slot, members: m.members.map((x) => `${x.id}:${x.role}`).join(" "), self: me?.role ?? "removed" },
      me === undefined ? "this node was removed from the cluster: it takes no further part, and answers clients 503" : "membership changed",
    );
    for (const w of [...this.membershipWatchers]) w();
  }

  /** Resolves true once this node knows a membership of at least `slot`, false at the deadline. */
  private membershipAtLeast(slot: number, deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.core.membership().slot < slot && !this.stopped && Date.now() < deadline) return;
        clearTimeout(timer);
        this.membershipWatchers.delete(check);
        resolve(this.core.membership().slot >= slot);
      };
      const timer = setTimeout(check, Math.max(0, deadline - Date.now()));
      this.membershipWatchers.add(check);
      check();
    });
  }

  /** The answer to clients of a node that was removed from the cluster. */
  private removedFailure(): AppendRoute & ReadRoute {
    return { kind: "failed", outcome: "not_applied", reason: "this node was removed from the cluster; ask one of its members", members: this.members() };
  }

  /**
   * PeerInbox: a change another member hands to this node as the leader.
   * Proposed here; answered once chosen and applied, or refused at once.
   */
  async proposeChange(change: MembershipChange, deadline: number): Promise<ChangeAnswer> {
    const r = await this.request((id) => this.core.proposeChange(id, change), deadline - Date.now());
    if (r === null) return { kind: "refused", refusal: "timeout", message: "timed out waiting for the change to be chosen (it may still be)" };
    if (r.kind === "changed") return { kind: "changed", membership: r.membership };
    if (r.kind === "changeRefused") return { kind: "refused", refusal: r.refusal, message: r.message };
    throw new Error(`a membership change got a ${r.kind} result`);
  }

  /**
   * A membership change through any member (NodeService). The leader
   * proposes it; a follower hands it to the leader (PeerService.ProposeChange).
   * A leader that is not ready yet (Ongaro's rule: its recovered slots are
   * not all chosen) or that stepped down is waited for, up to the deadline.
   * The answer comes once this node has applied the change too, so a
   * GET /members here right after shows it.
   */
  async routeChange(change: MembershipChange, opts: RouteOptions): Promise<ChangeRoute> {
    const before = this.core.membership();
    let outcome: "unknown" | "not_applied" = "not_applied";
    let reason = "no leader was elected in time";
    for (;;) {
      const remaining = opts.deadline - Date.now();
      if (this.stopped) return { kind: "failed", outcome: "unknown", reason: "the node is shutting down" };
      if (this.core.isRemoved()) return { ...this.removedFailure(), outcome };
      if (remaining <= 0) return { kind: "failed", outcome, reason };
      const leader = this.core.status().leader;
      if (leader === null) {
        if (!(await this.leaderChange(Math.min(remaining, this.leaderWaitMs)))) return { kind: "failed", outcome, reason };
        continue;
      }
      let answer: ChangeAnswer;
      if (leader === this.self.id) {
        answer = await this.proposeChange(change, opts.deadline);
      } else {
        const link = this.links.get(leader);
        if (link === undefined) {
          await this.leaderChange(Math.min(remaining, AVOID_LEADER_MS));
          continue;
        }
        try {
          answer = await link.proposeChange(change, opts.deadline);
        } catch (e) {
          outcome = "unknown"; // the leader may have taken it before the call failed
          reason = `handing the change to leader ${leader} failed: ${(e as Error).message}`;
          await this.leaderChange(Math.min(opts.deadline - Date.now(), AVOID_LEADER_MS));
          continue;
        }
      }
      if (answer.kind === "changed") {
        // Wait until this node has applied it too (bounded: it is chosen either way).
        await this.membershipAtLeast(answer.membership.slot, Math.min(opts.deadline, Date.now() + 2000));
        const done = changed(change, answer.membership, before);
        if (done === null) throw new Error(`a chosen ${change.kind} names no member`);
        return done;
      }
      if (answer.refusal === "timeout") return { kind: "failed", outcome: "unknown", reason: answer.message };
      if (answer.refusal === "not_leader" || answer.refusal === "not_ready") {
        // Not a refusal of the change: the leader moved, or is not ready yet. Try again.
        reason = answer.message;
        if (answer.refusal === "not_leader" && this.core.status().leader === leader) await this.leaderChange(Math.min(opts.deadline - Date.now(), AVOID_LEADER_MS));
        else await new Promise((r) => setTimeout(r, CHANGE_RETRY_MS));
        continue;
      }
      // A refusal after an attempt that may have been chosen (outcome unknown) can be that attempt's own
      // effect ("already a member"): then the change happened, and is answered as such.
      if (outcome === "unknown" && this.showsEffect(change)) {
        const done = changed(change, this.core.membership(), before);
        if (done !== null) return done;
      }
      return { kind: "refused", refusal: answer.refusal, message: answer.message };
    }
  }

  /** Whether the membership this node knows shows `change` done. */
  private showsEffect(change: MembershipChange): boolean {
    const m = this.core.membership();
    switch (change.kind) {
      case "add":
        return m.members.some((x) => x.address === change.address);
      case "promote":
        return findMember(m, change.id)?.role === "voter";
      case "remove":
        return findMember(m, change.id) === undefined;
    }
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
    this.inReady = true;
    try {
      this.drainReady();
    } finally {
      this.inReady = false;
    }
  }

  private drainReady(): void {
    while (!this.stopped && this.core.hasReady()) {
      const rd = this.core.ready();
      if (rd.membership !== null) this.onMembership(rd.membership);
      if (rd.persist.length > 0) {
        this.steps?.record("fsync start");
        this.durable = this.durableLog.append(rd.persist, syncNeeded(rd));
        this.durable.catch((e: unknown) => this.fatal(e));
        if (this.steps !== null) void this.durable.then(() => this.steps!.record("fsync done"), () => {});
      }
      // Persist before vote: a Promise or Accepted leaves only once its records (and all earlier ones)
      // are durable; everything else, client answers included, goes at once.
      const votes = rd.messages.filter((e) => waitsForDurability(e.msg));
      this.release(votes.length === rd.messages.length ? [] : rd.messages.filter((e) => !waitsForDurability(e.msg)), rd.results);
      if (votes.length > 0) void this.durable.then(() => this.release(votes, []), () => {});
    }
    this.wakeAppliedWaiters();
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
      if (this.steps !== null) for (const e of envs) if (!IDLE_MESSAGES.has(e.msg.type)) this.steps.record(`send ${e.msg.type}`);
      this.links.get(to)?.send(encodeDelivery(this.self.id, to, envs.map((e) => bytesOf(e.msg))), envs.length);
    }
    for (const r of results) {
      const p = this.pending.get(r.requestId);
      if (p === undefined) continue; // timed out already
      this.pending.delete(r.requestId);
      clearTimeout(p.timer);
      this.steps?.record(`result ${r.kind}`);
      p.resolve(r);
    }
    // This node's own vote, now durable, may complete a quorum: answer at once rather than in a later
    // check phase, after the flush of the peer messages above, whose wake-ups of the peers can run
    // first on a small machine (0.1-0.2 ms with one client, docs/performance.md). Called from
    // inside processReady, its loop picks the output up.
    if (local && !this.inReady) this.processReady();
  }

  private noticeRoleChange(): void {
    const st = this.core.status();
    if (st.role !== this.lastRole || st.leader !== this.lastLeader) {
      this.log.info(
        { role: st.role, leader: st.leader, ballot: formatBallot(st.ownBallot ?? st.promised), commitIndex: st.commitIndex },
        "role changed",
      );
      const leaderChanged = st.leader !== this.lastLeader;
      this.live.roleChanged(st.role, this.lastRole, leaderChanged);
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

