// An in-memory test cluster for the unit tests of the pure Multi-Paxos core.
//
// This is test-only code. An in-memory fake network is fine here because these
// are unit tests of the pure, deterministic PaxosCore state machine; the real
// gRPC transport and the on-disk storage are tested elsewhere.
//
// The harness follows the core's contract exactly: after every input it drains
// ready(), appends ready().persist to the node's durable record list FIRST, and
// only then puts ready().messages on the wire (a FIFO queue). Messages a node
// addresses to itself travel through the same queue and come back via step().
// A crash throws away the core (and whatever it had not yet drained); a restart
// rebuilds the core from its durable records only.
//
// Everything is deterministic: no Math.random, no timers, FIFO delivery.

import { genesisOf } from "../support/genesis.js";
import type { Membership, MembershipChange } from "../../src/core/membership.js";
import { PaxosCore } from "../../src/core/paxos-core.js";
import type {
  AppliedEntry,
  ClientResult,
  Command,
  CoreConfig,
  Envelope,
  Message,
  MessageType,
  NodeId,
  PersistRecord,
  Ready,
  Value,
} from "../../src/core/types.js";

/** What the network does with one envelope. "hold" parks it until releaseHeld(). */
export type Verdict = "deliver" | "drop" | "hold";
export type NetFilter = (env: Envelope) => Verdict;

export type ConfigOverrides = Partial<Omit<CoreConfig, "id" | "genesis">>;

/** The config the brief asks for, for node `id` of an `n`-node cluster. */
export function testConfig(id: NodeId, n: number, overrides: ConfigOverrides = {}): CoreConfig {
  return {
    id,
    genesis: genesisOf(n),
    heartbeatTicks: 2,
    electionTicksMin: 10,
    electionTicksMax: 20,
    maxBatch: 64,
    maxInflight: 4,
    maxPending: 1000,
    catchupBatch: 100,
    resendTicks: 10,
    maxSessions: 1000,
    seed: id + 1,
    ...overrides,
  };
}

export function cmd(clientId: number, commandId: number, payload: number): Command {
  return { clientId, commandId, payload };
}

export function cmdValue(c: Command): Value {
  return { kind: "command", command: c };
}

/** Drops every message that crosses between two of the given groups (nodes in no group are cut off entirely). */
export function partition(...groups: NodeId[][]): NetFilter {
  const groupOf = new Map<NodeId, number>();
  groups.forEach((g, i) => g.forEach((n) => groupOf.set(n, i)));
  return (env) => {
    if (env.from === env.to) return "deliver";
    const a = groupOf.get(env.from);
    const b = groupOf.get(env.to);
    return a !== undefined && a === b ? "deliver" : "drop";
  };
}

/** Holds (rather than drops) every message of the given types; delivers the rest. */
export function holdTypes(...types: MessageType[]): NetFilter {
  return (env) => (types.includes(env.msg.type) ? "hold" : "deliver");
}

export class TestCluster {
  /** Every node ever started (nodes added by membership changes too). */
  readonly ids: NodeId[];
  /** Per node: every record it ever made durable, in write order (survives crashes). */
  readonly durable: PersistRecord[][];
  /** Per node: every client result it produced (across restarts). */
  readonly results: ClientResult[][];
  /** Per node: every applied entry it reported (across restarts; replay reports none). */
  readonly applied: AppliedEntry[][];
  /** Every envelope ever put on the wire, in send order. */
  readonly trace: Envelope[] = [];
  /** Messages on the wire, delivered FIFO. */
  queue: Envelope[] = [];
  /** Messages parked by a "hold" verdict. */
  held: Envelope[] = [];
  /** The default filter of deliverAll()/tickAll() (e.g. a standing partition); null delivers everything. */
  filter: NetFilter | null = null;

  private readonly cores: (PaxosCore | null)[];
  private readonly configs: CoreConfig[];
  private nextRequestId = 1;

  constructor(
    private readonly size: number,
    private readonly overrides: ConfigOverrides = {},
  ) {
    const n = size;
    this.ids = Array.from({ length: n }, (_, i) => i);
    this.configs = this.ids.map((id) => testConfig(id, n, overrides));
    this.cores = this.configs.map((c) => new PaxosCore(c));
    this.durable = this.ids.map(() => []);
    this.results = this.ids.map(() => []);
    this.applied = this.ids.map(() => []);
  }

  // ------------------------------------------------------------ nodes ----

  isUp(id: NodeId): boolean {
    return this.cores[id] != null;
  }

  upIds(): NodeId[] {
    return this.ids.filter((id) => this.isUp(id));
  }

  core(id: NodeId): PaxosCore {
    const c = this.cores[id];
    if (c == null) throw new Error(`node ${id} is down`);
    return c;
  }

  /** Loses the node's volatile state and everything it had not yet drained; its durable records stay. */
  crash(id: NodeId): void {
    this.core(id);
    this.cores[id] = null;
    this.queue = this.queue.filter((e) => e.to !== id);
    this.held = this.held.filter((e) => e.to !== id);
  }

  /** Rebuilds the node from its durable records only. */
  restart(id: NodeId): PaxosCore {
    if (this.isUp(id)) throw new Error(`node ${id} is already up`);
    const c = new PaxosCore(this.configs[id]!, this.durable[id]!.slice());
    this.cores[id] = c;
    return c;
  }

  /** Starts a node that the membership `known` added (as `paxos node --join` does once it was added). */
  addNode(id: NodeId, known: Membership): PaxosCore {
    if (this.ids.includes(id)) throw new Error(`node ${id} exists`);
    this.ids.push(id);
    this.configs[id] = { ...testConfig(id, this.size, this.overrides), known };
    this.durable[id] = [];
    this.results[id] = [];
    this.applied[id] = [];
    const c = new PaxosCore(this.configs[id]!);
    this.cores[id] = c;
    return c;
  }

  /** Asks a node for a membership change; the answer shows up in results[node]. */
  proposeChange(node: NodeId, change: MembershipChange): number {
    const requestId = this.nextRequestId++;
    this.core(node).proposeChange(requestId, change);
    return requestId;
  }

  // ---------------------------------------------------------- network ----

  /** Drains one node's Ready: persist first, then put its messages on the wire. Returns the Ready. */
  flush(id: NodeId): Ready {
    const ready = this.core(id).ready();
    this.durable[id]!.push(...ready.persist);
    for (const env of ready.messages) {
      this.trace.push(env);
      this.queue.push(env);
    }
    this.results[id]!.push(...ready.results);
    this.applied[id]!.push(...ready.applied);
    return ready;
  }

  flushAll(): void {
    for (const id of this.upIds()) this.flush(id);
  }

  /**
   * Drains every node and delivers messages (FIFO) until the network is quiet.
   * Each envelope first passes the filter: dropped, held (see releaseHeld), or
   * delivered. Messages to a node that is down are lost. Returns the number delivered.
   */
  deliverAll(filter: NetFilter | null = this.filter, maxDeliveries = 200_000): number {
    let delivered = 0;
    for (;;) {
      this.flushAll();
      const env = this.queue.shift();
      if (env === undefined) return delivered;
      if (!this.isUp(env.to)) continue;
      const verdict = filter === null ? "deliver" : filter(env);
      if (verdict === "drop") continue;
      if (verdict === "hold") {
        this.held.push(env);
        continue;
      }
      this.core(env.to).step(env.from, env.msg);
      if (++delivered > maxDeliveries) throw new Error(`network not quiet after ${maxDeliveries} deliveries`);
    }
  }

  /** Puts held messages back on the wire (they are delivered by the next deliverAll). */
  releaseHeld(pred: (env: Envelope) => boolean = () => true): void {
    const keep: Envelope[] = [];
    for (const env of this.held) (pred(env) ? this.queue : keep).push(env);
    this.held = keep;
  }

  /** Delivers one hand-made message right away (bypassing the queue). */
  inject(from: NodeId, to: NodeId, msg: Message): void {
    this.core(to).step(from, msg);
  }

  // ------------------------------------------------------------- time ----

  /** n rounds of: tick every live node once, then deliver until quiet. */
  tickAll(n = 1, filter: NetFilter | null = this.filter): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.upIds()) this.core(id).tick();
      this.deliverAll(filter);
    }
  }

  /**
   * Makes `id` the leader: ticks every live node (so followers' leader
   * stickiness expires normally) while Prepares from any other node are
   * dropped, until `id` leads. Bounded; throws after maxTicks.
   */
  campaign(id: NodeId, filter: NetFilter | null = this.filter, maxTicks = 200): void {
    const onlyId: NetFilter = (env) =>
      (env.msg.type === "prepare" || env.msg.type === "preVote") && env.from !== id ? "drop" : filter === null ? "deliver" : filter(env);
    for (let t = 0; t < maxTicks; t++) {
      if (this.core(id).status().role === "leader") return;
      this.tickAll(1, onlyId);
    }
    throw new Error(`node ${id} did not become leader within ${maxTicks} ticks`);
  }

  // ---------------------------------------------------------- leaders ----

  leaders(): NodeId[] {
    return this.upIds().filter((id) => this.core(id).status().role === "leader");
  }

  /** The single live leader, or null if there is none or more than one. */
  leader(): NodeId | null {
    const ls = this.leaders();
    return ls.length === 1 ? ls[0]! : null;
  }

  /** Ticks every live node until exactly one leader exists; throws after maxTicks. */
  electLeader(maxTicks = 500, filter: NetFilter | null = this.filter): NodeId {
    for (let t = 0; t <= maxTicks; t++) {
      const l = this.leader();
      if (l !== null) return l;
      this.tickAll(1, filter);
    }
    throw new Error(`no single leader after ${maxTicks} ticks (leaders: ${this.leaders().join(",")})`);
  }

  // ---------------------------------------------------------- clients ----

  /** Hands a command to a node; the answer shows up in results[node] once that node's Ready is drained. */
  propose(node: NodeId, command: Command): number {
    const requestId = this.nextRequestId++;
    this.core(node).propose(requestId, command);
    return requestId;
  }

  read(node: NodeId): number {
    const requestId = this.nextRequestId++;
    this.core(node).read(requestId);
    return requestId;
  }

  /** Every result produced for a request id, on any node. */
  resultsFor(requestId: number): ClientResult[] {
    return this.results.flatMap((rs) => rs.filter((r) => r.requestId === requestId));
  }

  /** The single result of a request, or undefined while it has none; throws if it got several. */
  result(requestId: number): ClientResult | undefined {
    const rs = this.resultsFor(requestId);
    if (rs.length > 1) throw new Error(`request ${requestId} answered ${rs.length} times`);
    return rs[0];
  }

  // ------------------------------------------------------------ state ----

  list(id: NodeId): number[] {
    return [...this.core(id).list.values];
  }

  /** The chosen log of a node, slots [0, commitIndex). */
  log(id: NodeId): Value[] {
    const c = this.core(id);
    const out: Value[] = [];
    for (let s = 0; s < c.commitIndex; s++) out.push(c.chosenValue(s)!);
    return out;
  }

  /** Envelopes in the trace matching a message type (and optionally sender / receiver). */
  sent<T extends MessageType>(type: T, opts: { from?: NodeId; to?: NodeId } = {}): (Envelope & { msg: Extract<Message, { type: T }> })[] {
    return this.trace.filter(
      (e): e is Envelope & { msg: Extract<Message, { type: T }> } =>
        e.msg.type === type && (opts.from === undefined || e.from === opts.from) && (opts.to === undefined || e.to === opts.to),
    );
  }
}
