// A deterministic simulation of a whole cluster: 3 or 5 instances of the
// real PaxosCore to start with, in-memory disks that lose what was not yet
// fsync'd on a crash, a network that delays, loses, duplicates, reorders and
// partitions, skewed timers, clients that retry, and membership changes that
// grow and shrink the cluster (3 to 5 voters and back, replacing nodes,
// removing the leader) in the middle of all that. Everything comes from one
// seed, so a seed replays its run bit for bit (Trace.digest proves it).
//
// Like the real runtime (src/node/cluster-node.ts), a node's Ready is made
// durable before its messages leave and its clients are answered, and a
// node's messages to itself are stepped right after that.

import { historyFromEvents, type RecordedEvent } from "../check/history.js";
import { checkHistory } from "../check/linearizability.js";
import { ballotEquals, formatBallot } from "../core/ballot.js";
import { bootstrapMembership, type Membership, type MembershipChange } from "../core/membership.js";
import { PaxosCore, syncNeeded, waitsForDurability } from "../core/paxos-core.js";
import { Rng } from "../core/rng.js";
import type { ClientResult, Command, CoreConfig, Envelope, NodeId, PersistRecord } from "../core/types.js";
import { EventQueue } from "./event-queue.js";
import { cutsFor, noCuts, planFaults, type Episode, type FaultPlan, type LinkCuts } from "./faults.js";
import { Invariants, SafetyViolation, type InvariantsListener, type ViolationDetail } from "./invariants.js";
import { describeMessage, Trace } from "./trace.js";

/** One line of the clients' history (`time`: nanoseconds of simulated time). */
export type HistoryEvent = RecordedEvent;

export type CoreFactory = (cfg: CoreConfig, records: readonly PersistRecord[]) => PaxosCore;

export interface SimOptions {
  readonly seed: number;
  readonly nodes: 3 | 5;
  /** Simulated milliseconds with faults and client load. */
  readonly faultPhaseMs?: number;
  /** After the faults stop, a new append must be acknowledged within this many simulated ms. */
  readonly recoveryBoundMs?: number;
  readonly clients?: number;
  /** Trace lines kept for a failure report. */
  readonly traceKeep?: number;
  /** Print every trace line as it happens. */
  readonly echo?: (line: string) => void;
  /** Test-only: build cores with a deliberately broken rule. */
  readonly createCore?: CoreFactory;
  /** Test-only: release a Ready's messages before its records are durable. */
  readonly releaseBeforeSync?: boolean;
  /** Membership changes during the fault phase (default true). */
  readonly reconfigure?: boolean;
  /** Sees the run as it happens (the step-by-step viewer records through it); absent, nothing is recorded. */
  readonly observer?: SimObserver;
}

/**
 * What the simulator shows an observer, at the moment it happens. An
 * observer only reads: it must not call anything that changes a core or
 * draw from the run's randomness, so a run is the same with or without one.
 */
export interface SimObserver extends InvariantsListener {
  /** An event of the queue is about to be handled. */
  event(time: number, ev: SimEvent): void;
  /** A line of the trace (the text the digest hashes, without its time). */
  line(text: string): void;
  /** A node's process started (again) from its durable records. */
  booted(id: NodeId, core: PaxosCore, durable: readonly PersistRecord[]): void;
  crashed(id: NodeId): void;
  /** A node's Ready asked for these records to be written. */
  persisted(id: NodeId, records: readonly PersistRecord[]): void;
  /** A node took an input and its Ready was drained: its state may have changed. */
  drained(id: NodeId, core: PaxosCore): void;
  /** A message left: `delivery` is the queued event that will carry it, or null when it was dropped. */
  sent(env: Envelope, delivery: SimEvent | null, dropped: "partition" | "loss" | null): void;
  /** The delivery being handled did not reach its node. */
  undelivered(env: Envelope, why: "down" | "partition"): void;
  /** The links cut changed (cuts[from][to]); `description` names a new partition, null when healed. */
  partition(cuts: LinkCuts, description: string | null): void;
  /** A client's operation was invoked or completed (the history's record). */
  clientOp(client: number, event: HistoryEvent): void;
  /** A client's attempt reached a node (`up`: the node was running). */
  clientRequest(client: number, node: NodeId, up: boolean): void;
  /** A node's answer reached a client. */
  clientReply(client: number, node: NodeId, result: ClientResult): void;
  /** The run failed; `detail` names the slots, ballots, nodes and payloads involved when an invariant said so. */
  violation(failure: string, detail: ViolationDetail | undefined): void;
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly ok: boolean;
  /** What went wrong, in words; absent when ok. */
  readonly failure?: string;
  readonly trace: string[];
  readonly digest: string;
  readonly history: HistoryEvent[];
  readonly stats: {
    readonly simulatedMs: number;
    readonly events: number;
    readonly messages: number;
    readonly ops: number;
    readonly ok: number;
    readonly info: number;
    readonly fail: number;
    readonly crashes: number;
    readonly partitions: number;
    readonly chosenSlots: number;
    /** Membership changes applied (by the leader that proposed them). */
    readonly changes: number;
    /** Of those, the ones that removed the leader that proposed them. */
    readonly leaderRemovals: number;
    /** Of those, the ones applied while a node was down or a link cut. */
    readonly changesUnderFaults: number;
    /** The most and fewest voters any applied membership had. */
    readonly maxVoters: number;
    readonly minVoters: number;
    /** Thrifty Accepts sent (some acceptors asked not to vote), and batches that then asked every acceptor. */
    readonly thriftyAccepts: number;
    readonly thriftyFallbacks: number;
  };
}

function describeChange(c: MembershipChange): string {
  return c.kind === "add" ? `add ${c.address}` : `${c.kind} n${c.id}`;
}

/** A simulated node's address (never dialled: the simulated network routes by id). */
export function simAddress(id: NodeId): string {
  return `sim-${id}:${5000 + id}:${6000 + id}:${7000 + id}`;
}

/** An event of the simulator's queue. */
export type SimEvent = Event;

type Event =
  | { kind: "tick"; node: NodeId; incarnation: number }
  | {
      kind: "release";
      node: NodeId;
      incarnation: number;
      messages: readonly Envelope[];
      results: readonly ClientResult[];
      /** Records whose votes these messages announce (checked as cast). */
      votes: readonly PersistRecord[];
      /** Records that are durable from now on. */
      synced: readonly PersistRecord[];
    }
  | { kind: "deliver"; env: Envelope }
  | { kind: "episode"; episode: Episode }
  | { kind: "heal-partition"; id: number }
  | { kind: "restart"; node: NodeId }
  | { kind: "client-next"; client: number }
  | { kind: "client-retry"; client: number; op: number }
  | { kind: "client-arrive"; node: NodeId; requestId: number }
  | { kind: "client-reply"; requestId: number; result: ClientResult; state: readonly number[] | null }
  | { kind: "client-attempt-timeout"; client: number; attempt: number }
  /** The node stops waiting for a request, as the runtime's request timer does (core.cancel). */
  | { kind: "node-request-timeout"; node: NodeId; requestId: number }
  | { kind: "end-faults" }
  | { kind: "probe" };

interface NodeSlot {
  core: PaxosCore | null;
  /** The membership that added this node (it starts with it, as `paxos node --join` does). */
  known: Membership | null;
  incarnation: number;
  /** Records fdatasync'd: all a restart gets. */
  readonly durable: PersistRecord[];
  /** When the node's last requested fdatasync completes. */
  syncDoneAt: number;
  /** "chosen" records waiting to ride along with the next write (lost in a crash). */
  lazy: PersistRecord[];
}

interface ClientOp {
  /** Which op of its client this is (a reply to an earlier op is ignored). */
  readonly seq: number;
  readonly f: "append" | "read";
  readonly command: Command | null;
  readonly deadline: number;
  attempt: number;
  /** Waiting before the next attempt: timeouts and rejections of the last one no longer matter. */
  backingOff: boolean;
  /** Attempts that reached a node and were not refused as definitely not applied. */
  readonly maybeApplied: Set<number>;
}

interface ClientState {
  readonly id: number;
  nextCommandId: number;
  opSeq: number;
  op: ClientOp | null;
  /** Where to send next (a leader hint), or null for a random node. */
  target: NodeId | null;
}

/** Nodes a run may add beyond its initial ones (ids are never reused). */
const MAX_ADDED_NODES = 6;
const ATTEMPT_TIMEOUT_MS = 400;
const OP_TIMEOUT_MS = 3000;
/** A node gives up on a client request after this long (the runtime's --request-timeout-ms). */
const NODE_REQUEST_TIMEOUT_MS = OP_TIMEOUT_MS;

export class Simulation {
  private readonly rng: Rng;
  private readonly n: number;
  /** Every node the run has created, removed ones too. */
  private readonly ids: NodeId[];
  /** Ids below this have a slot; ids are never reused. */
  private readonly capacity: number;
  /** Membership changes asked of a leader and not yet answered, by request id. */
  private readonly changeRequests = new Map<number, { change: MembershipChange; leader: NodeId }>();
  private readonly queue = new EventQueue<Event>();
  private readonly slots: NodeSlot[];
  private readonly plan: FaultPlan;
  private readonly trace: Trace;
  private readonly invariants: Invariants;
  private readonly createCore: CoreFactory;
  private readonly faultPhaseMs: number;
  private readonly recoveryBoundMs: number;
  private readonly snapshotEvery: number;
  private now = 0;
  private cuts: LinkCuts;
  private partitionId = 0;
  private faultsOver = false;
  /** A crash waiting for its moment (see CrashTarget). */
  private armedCrash: { target: "leader-after-accept" | "voter-after-accepted" | "leader-after-change"; durationMs: number } | null = null;
  private readonly history: HistoryEvent[] = [];
  private readonly clients: ClientState[] = [];
  private readonly requests = new Map<number, { client: number; op: number; attempt: number; node: NodeId }>();
  private nextRequestId = 1;
  private nextPayload = 1;
  private probe: { requestedAt: number; client: number; done: boolean } | null = null;
  private counts = { events: 0, messages: 0, crashes: 0, partitions: 0, changes: 0, leaderRemovals: 0, changesUnderFaults: 0, maxVoters: 0, minVoters: 0, thriftyAccepts: 0, thriftyFallbacks: 0 };
  private readonly acceptedToAllUpTo: number;
  /** Batches (ballot and first slot) last sent as thrifty Accepts: a later Accept of one without `quiet` is a fallback. */
  private readonly thriftyBatches = new Set<string>();
  private readonly genesis: Membership;
  private readonly observer: SimObserver | undefined;

  constructor(private readonly opts: SimOptions) {
    this.rng = new Rng(opts.seed);
    this.n = opts.nodes;
    this.ids = Array.from({ length: this.n }, (_, i) => i);
    this.capacity = this.n + MAX_ADDED_NODES;
    this.genesis = bootstrapMembership(this.ids.map(simAddress));
    this.faultPhaseMs = opts.faultPhaseMs ?? 20_000;
    this.recoveryBoundMs = opts.recoveryBoundMs ?? 10_000;
    this.plan = planFaults(this.rng, this.capacity, this.faultPhaseMs, opts.reconfigure ?? true);
    this.snapshotEvery = this.rng.intBetween(8, 120);
    // Half the runs as the nodes run (small batches acknowledged to everyone); the other half with every
    // batch a thrifty Accept, which the simulator's light load would otherwise rarely send. Drawn from a
    // generator of its own, so that a seed's faults and timings stay what they were before this choice.
    this.acceptedToAllUpTo = new Rng(opts.seed ^ 0x7a1f7).intBetween(0, 2) === 0 ? 0 : 2;
    this.cuts = noCuts(this.capacity);
    this.trace = new Trace(opts.traceKeep ?? 400, opts.echo ?? null);
    this.observer = opts.observer;
    this.invariants = new Invariants(this.genesis, opts.observer);
    this.createCore = opts.createCore ?? ((cfg, records) => new PaxosCore(cfg, records));
    this.slots = Array.from({ length: this.capacity }, () => ({ core: null, known: null, incarnation: 0, durable: [], syncDoneAt: 0, lazy: [] }));
  }

  run(): SimResult {
    const p = this.plan;
    this.log(
      `seed ${this.opts.seed}: ${this.n} nodes, loss ${p.network.loss}, dup ${p.network.duplicate}, delay ${p.network.minDelayMs}+${p.network.jitterMs} ms, ` +
        `slow ${p.network.slowProbability}, ${p.storm ? "STORM, " : ""}ticks ${p.tickMs.map((t) => t.toFixed(1)).join("/")} ms, fsync ${p.fsyncMinMs}-${p.fsyncMaxMs} ms, ${p.episodes.length} fault episodes`,
    );
    for (const id of this.ids) this.boot(id);
    for (const e of p.episodes) this.queue.push(e.at, { kind: "episode", episode: e });
    const clientCount = this.opts.clients ?? 3;
    for (let c = 0; c < clientCount; c++) {
      this.clients.push({ id: c, nextCommandId: 1, opSeq: 0, op: null, target: null });
      this.queue.push(this.rng.intBetween(100, 300), { kind: "client-next", client: c });
    }
    this.queue.push(this.faultPhaseMs, { kind: "end-faults" });
    const endAt = this.faultPhaseMs + this.recoveryBoundMs + 1000;
    let failure: string | undefined;
    let detail: ViolationDetail | undefined;
    try {
      for (;;) {
        const next = this.queue.pop();
        if (next === undefined || next.time > endAt) break;
        this.now = next.time;
        this.counts.events++;
        this.observer?.event(next.time, next.item);
        this.handle(next.item);
        if (this.probe?.done && this.allCaughtUp()) break;
      }
      failure = this.finalChecks();
    } catch (e) {
      // A core's own assertion (e.g. a membership that does not follow from the one in force) fails the seed too.
      failure = e instanceof SafetyViolation ? e.message : `a node threw: ${(e as Error).message}`;
      if (e instanceof SafetyViolation) detail = e.detail;
    }
    if (failure !== undefined) {
      this.log(`VIOLATION: ${failure}`);
      this.observer?.violation(failure, detail);
    }
    const done = this.history.filter((h) => h.type !== "invoke");
    return {
      seed: this.opts.seed,
      nodes: this.n,
      ok: failure === undefined,
      ...(failure === undefined ? {} : { failure }),
      trace: this.trace.tail(),
      digest: this.trace.digest,
      history: this.history,
      stats: {
        simulatedMs: this.now,
        events: this.counts.events,
        messages: this.counts.messages,
        ops: done.length,
        ok: done.filter((h) => h.type === "ok").length,
        info: done.filter((h) => h.type === "info").length,
        fail: done.filter((h) => h.type === "fail").length,
        crashes: this.counts.crashes,
        partitions: this.counts.partitions,
        chosenSlots: this.invariants.chosenSlots,
        changes: this.counts.changes,
        leaderRemovals: this.counts.leaderRemovals,
        changesUnderFaults: this.counts.changesUnderFaults,
        maxVoters: this.counts.maxVoters || this.n,
        minVoters: this.counts.minVoters || this.n,
        thriftyAccepts: this.counts.thriftyAccepts,
        thriftyFallbacks: this.counts.thriftyFallbacks,
      },
    };
  }

  /** The checker's votes for a slot and the voters in force there (the viewer shows them for a violated slot). */
  slotVotes(slot: number): ReturnType<Invariants["slotVotes"]> {
    return this.invariants.slotVotes(slot);
  }

  private log(line: string): void {
    this.trace.add(this.now, line);
    this.observer?.line(line);
  }

  // ------------------------------------------------------------ nodes ----

  private coreConfig(id: NodeId): CoreConfig {
    const known = this.slots[id]!.known;
    return {
      id,
      genesis: this.genesis,
      ...(known === null ? {} : { known }),
      heartbeatTicks: 5,
      electionTicksMin: 30,
      electionTicksMax: 60,
      resendTicks: 20,
      seed: this.rng.nextU32(),
      maxBatch: 8,
      maxInflight: 3,
      // Followers learn small batches from each other's votes (as cluster-node.ts: 2), or every batch is thrifty (0).
      acceptedToAllUpTo: this.acceptedToAllUpTo,
      thriftyFallbackTicks: 2,
      maxPending: 1000,
      catchupBatch: 16,
      maxSessions: 1000,
      // Small, so that runs compact often and lagging nodes catch up from snapshots.
      snapshotEvery: this.snapshotEvery,
    };
  }

  private boot(id: NodeId): void {
    const slot = this.slots[id]!;
    slot.incarnation++;
    slot.syncDoneAt = this.now;
    slot.core = this.createCore(this.coreConfig(id), slot.durable);
    this.observer?.booted(id, slot.core, slot.durable);
    this.invariants.nodeRestarted(id);
    this.invariants.checkNode(id, slot.core);
    const st = slot.core.status();
    this.log(`n${id} starts (incarnation ${slot.incarnation}) promised=${formatBallot(st.promised)} commit=${st.commitIndex} list=${st.listLength}`);
    this.scheduleTick(id);
    this.startAddedNodes(st.membership); // its log may hold a change that added nodes
  }

  private crash(id: NodeId, why: string): void {
    const slot = this.slots[id]!;
    if (slot.core === null) return;
    slot.core = null;
    slot.lazy = [];
    slot.incarnation++; // pending syncs, releases and ticks of the old process die with it
    this.counts.crashes++;
    this.observer?.crashed(id);
    this.log(`n${id} CRASH (${why}); ${slot.durable.length} durable records survive`);
    for (const [rid, r] of this.requests) if (r.node === id) this.requests.delete(rid);
  }

  private scheduleTick(id: NodeId): void {
    this.queue.push(this.now + this.plan.tickMs[id]!, { kind: "tick", node: id, incarnation: this.slots[id]!.incarnation });
  }

  private leaderNow(): NodeId | null {
    const leaders = this.ids.filter((id) => this.slots[id]!.core?.status().role === "leader");
    return leaders.length === 0 ? null : leaders[leaders.length - 1]!;
  }

  /** The newest membership any running node knows. */
  private membershipNow(): Membership {
    let m = this.genesis;
    for (const id of this.ids) {
      const k = this.slots[id]!.core?.membership();
      if (k !== undefined && k.slot > m.slot) m = k;
    }
    return m;
  }

  /** The members of the newest membership (learners too): the nodes that must serve and converge. */
  private members(): NodeId[] {
    return this.membershipNow().members.map((x) => x.id);
  }

  /**
   * A membership change asked of the leader, chosen from the membership it
   * knows: promote a learner, add a node (up to 5 voters and a learner),
   * or remove one (down to 3 voters), sometimes the leader itself.
   */
  private startChange(): void {
    const leader = this.leaderNow();
    if (leader === null) return this.log("CHANGE skipped: no leader");
    const core = this.slots[leader]!.core!;
    const m = core.membership();
    const voters = m.members.filter((x) => x.role === "voter");
    const learners = m.members.filter((x) => x.role === "learner");
    const roll = this.rng.intBetween(0, 10);
    let change: MembershipChange;
    if (learners.length > 0 && roll < 6) change = { kind: "promote", id: learners[this.rng.intBetween(0, learners.length)]!.id };
    else if (learners.length > 0 && roll < 7) change = { kind: "remove", id: learners[this.rng.intBetween(0, learners.length)]!.id };
    else if (voters.length + learners.length < 6 && m.nextId < this.capacity && (voters.length <= 3 || roll < 8)) {
      change = { kind: "add", address: simAddress(m.nextId) };
    } else if (voters.length > 3 || roll >= 8) {
      const removeLeader = this.rng.intBetween(0, 4) === 0;
      const victim = removeLeader ? leader : voters[this.rng.intBetween(0, voters.length)]!.id;
      change = { kind: "remove", id: victim };
    } else {
      return this.log("CHANGE skipped: nothing to do");
    }
    // Now and then the leader dies right after sending the change: the next leader finds it undecided.
    if (this.armedCrash === null && this.rng.intBetween(0, 3) === 0) this.armedCrash = { target: "leader-after-change", durationMs: this.rng.intBetween(100, 1500) };
    this.askChange(leader, change);
    // Now and then an operator's script asks the next change at once (e.g. add, then promote): one at a time.
    if (this.rng.intBetween(0, 3) === 0) {
      const next: MembershipChange | null =
        change.kind === "add"
          ? { kind: "promote", id: m.nextId }
          : change.kind === "promote" && voters.length >= 3
            ? { kind: "remove", id: voters[this.rng.intBetween(0, voters.length)]!.id }
            : change.kind === "remove" && m.nextId < this.capacity - 1
              ? { kind: "add", address: simAddress(m.nextId) }
              : null;
      if (next !== null) this.askChange(leader, next);
    }
  }

  private askChange(leader: NodeId, change: MembershipChange): void {
    const requestId = this.nextRequestId++;
    this.changeRequests.set(requestId, { change, leader });
    this.log(`CHANGE asked of leader n${leader}: ${describeChange(change)}`);
    this.slots[leader]!.core?.proposeChange(requestId, change);
    this.drain(leader);
  }

  /**
   * A node added to the membership starts, with the membership that added it
   * (as `paxos node --join` waits until a member says it was added): from
   * whichever node first knows the membership, the answer to the change may
   * have been lost.
   */
  private startAddedNodes(m: Membership): void {
    if (m.nextId <= this.ids.length && m.members.every((x) => this.ids.includes(x.id))) return; // nothing new (the common case)
    for (const x of m.members) {
      if (this.ids.includes(x.id)) continue;
      this.slots[x.id]!.known = m;
      this.ids.push(x.id);
      this.boot(x.id);
    }
  }

  /** Whether a member is down or a link is cut right now. */
  private faultActive(): boolean {
    return this.members().some((id) => this.slots[id]!.core === null) || this.cuts.some((row) => row.some((cut) => cut));
  }

  /** The leader answered a change: an added node starts, with the membership that added it. */
  private changeAnswered(r: ClientResult): void {
    const { change, leader } = this.changeRequests.get(r.requestId)!;
    this.changeRequests.delete(r.requestId);
    if (r.kind === "changed") {
      this.counts.changes++;
      if (change.kind === "remove" && change.id === leader) this.counts.leaderRemovals++;
      if (this.faultActive()) this.counts.changesUnderFaults++;
      const voters = r.membership.members.filter((x) => x.role === "voter").length;
      this.counts.maxVoters = Math.max(this.counts.maxVoters || this.n, voters);
      this.counts.minVoters = Math.min(this.counts.minVoters || this.n, voters);
      this.log(`CHANGE done: ${describeChange(change)} -> ${r.membership.members.map((x) => `${x.id}${x.role === "voter" ? "" : "L"}`).join(",")} (slot ${r.membership.slot})`);
      this.startAddedNodes(r.membership);
    } else if (r.kind === "changeRefused") {
      this.log(`CHANGE refused (${r.refusal}): ${describeChange(change)}: ${r.message}`);
    } else if (r.kind === "rejected") {
      this.log(`CHANGE not done (${r.reason}, ${r.outcome}): ${describeChange(change)}`);
    }
  }

  /** Drains a node's Ready: its records go to disk, and its output is released once they are durable. */
  private drain(id: NodeId): void {
    const slot = this.slots[id]!;
    const core = slot.core;
    if (core === null) return;
    const before = core.status();
    while (core.hasReady()) {
      const ready = core.ready();
      this.observer?.persisted(id, ready.persist);
      let releaseAt = Math.max(this.now, slot.syncDoneAt);
      // As the runtime: records no vote waits on (syncNeeded) get no fdatasync; they become durable with the next write.
      let persist = ready.persist;
      if (persist.length > 0 && !syncNeeded(ready)) {
        slot.lazy.push(...persist);
        persist = [];
      } else if (persist.length > 0) {
        persist = [...slot.lazy, ...persist];
        slot.lazy = [];
        releaseAt += this.rng.intBetween(this.plan.fsyncMinMs, this.plan.fsyncMaxMs + 1);
        slot.syncDoneAt = releaseAt;
      }
      // As the runtime: votes (Promise, Accepted) leave once the records are durable; the rest at once.
      const votes = ready.messages.filter((e) => waitsForDurability(e.msg));
      const others = ready.messages.filter((e) => !waitsForDurability(e.msg));
      const incarnation = slot.incarnation;
      const nothing: readonly PersistRecord[] = [];
      const cast = votedRecords(ready.persist, votes);
      this.queue.push(this.now, { kind: "release", node: id, incarnation, messages: others, results: ready.results, votes: nothing, synced: nothing });
      if (this.opts.releaseBeforeSync) {
        // The injected bug: vote now, make durable later (a crash in between loses the records).
        this.queue.push(this.now, { kind: "release", node: id, incarnation, messages: votes, results: [], votes: cast, synced: nothing });
        this.queue.push(releaseAt, { kind: "release", node: id, incarnation, messages: [], results: [], votes: nothing, synced: persist });
      } else {
        this.queue.push(releaseAt, { kind: "release", node: id, incarnation, messages: votes, results: [], votes: cast, synced: persist });
      }
    }
    const after = core.status();
    this.startAddedNodes(after.membership);
    if (after.role !== before.role || after.leader !== before.leader) {
      this.log(`n${id} is ${after.role}${after.ownBallot ? ` b=${formatBallot(after.ownBallot)}` : ""} leader=${after.leader ?? "-"} commit=${after.commitIndex}`);
      // An operator whose change failed with the old leader asks the new one at once (the CLI retries so).
      if (after.role === "leader" && before.role !== "leader" && !this.faultsOver && this.rng.intBetween(0, 4) === 0) {
        this.queue.push(this.now, { kind: "episode", episode: { kind: "membership", at: this.now } });
      }
    }
    this.invariants.checkNode(id, core);
    this.observer?.drained(id, core);
  }

  private release(id: NodeId, ev: Extract<Event, { kind: "release" }>): void {
    const slot = this.slots[id]!;
    const core = slot.core!;
    for (const r of ev.synced) {
      // A snapshot replaces everything written before it with itself and what it retains.
      if (r.type === "snapshot") slot.durable.splice(0, slot.durable.length, r, ...r.retained);
      else slot.durable.push(r);
    }
    this.invariants.votesCast(id, ev.votes, this.now);
    const sent = new Set<string>();
    for (const env of ev.messages) {
      if (env.to === id) {
        core.step(env.from, env.msg);
        continue;
      }
      sent.add(env.msg.type);
      this.send(env);
    }
    const armed = this.armedCrash;
    if (armed !== null && !this.faultsOver) {
      const sentChange = ev.messages.some((e) => e.to !== id && e.msg.type === "accept" && e.msg.values.some((v) => v.kind === "membership"));
      const hit =
        armed.target === "leader-after-accept"
          ? sent.has("accept") && core.status().role === "leader"
          : armed.target === "leader-after-change"
            ? sentChange && core.status().role === "leader"
            : sent.has("accepted");
      if (hit) {
        this.armedCrash = null;
        const why = { "leader-after-accept": "the leader, right after sending an Accept", "leader-after-change": "the leader, right after sending a membership change", "voter-after-accepted": "right after voting" };
        this.crash(id, why[armed.target]);
        this.queue.push(this.now + armed.durationMs, { kind: "restart", node: id });
        return;
      }
    }
    for (const r of ev.results) {
      if (this.changeRequests.has(r.requestId)) {
        this.changeAnswered(r);
        continue;
      }
      if (!this.requests.has(r.requestId)) continue;
      let state: number[] | null = null;
      if (r.kind === "appended") state = core.list.prefix(r.index + 1);
      else if (r.kind === "read") state = core.list.prefix(r.length);
      // Replies cross the same lossy network: a lost one makes the client retry a command that was applied.
      if (this.rng.intBetween(0, 10_000) < this.plan.network.loss * 10_000) continue;
      this.queue.push(this.now + this.rng.intBetween(1, 4), { kind: "client-reply", requestId: r.requestId, result: r, state });
    }
    this.drain(id);
  }

  // ---------------------------------------------------------- network ----

  private send(env: Envelope): void {
    const net = this.plan.network;
    this.counts.messages++;
    if (env.msg.type === "accept" && env.from !== env.to) {
      const batch = `${formatBallot(env.msg.ballot)}@${env.msg.fromSlot}`;
      if (env.msg.quiet !== undefined) {
        this.counts.thriftyAccepts++;
        this.thriftyBatches.add(batch);
      } else if (this.thriftyBatches.delete(batch)) this.counts.thriftyFallbacks++;
    }
    if (this.cuts[env.from]![env.to]) return this.observer?.sent(env, null, "partition");
    if (this.rng.intBetween(0, 10_000) < net.loss * 10_000) return this.observer?.sent(env, null, "loss");
    const copies = this.rng.intBetween(0, 10_000) < net.duplicate * 10_000 ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let delay = net.minDelayMs + this.rng.intBetween(0, net.jitterMs + 1);
      if (this.rng.intBetween(0, 10_000) < net.slowProbability * 10_000) delay += this.rng.intBetween(50, 300);
      const delivery: Event = { kind: "deliver", env };
      this.queue.push(this.now + delay, delivery);
      this.observer?.sent(env, delivery, null);
    }
  }

  // ---------------------------------------------------------- events -----

  private handle(ev: Event): void {
    switch (ev.kind) {
      case "tick": {
        const slot = this.slots[ev.node]!;
        if (slot.core === null || ev.incarnation !== slot.incarnation) return;
        slot.core.tick();
        this.drain(ev.node);
        this.scheduleTick(ev.node);
        return;
      }
      case "release": {
        const slot = this.slots[ev.node]!;
        if (slot.core === null || ev.incarnation !== slot.incarnation) return; // crashed before the sync finished
        this.release(ev.node, ev);
        return;
      }
      case "deliver": {
        const { env } = ev;
        const core = this.slots[env.to]!.core;
        if (core === null || this.cuts[env.from]![env.to]) return this.observer?.undelivered(env, core === null ? "down" : "partition");
        this.log(`n${env.to} <- n${env.from} ${describeMessage(env.msg)}`);
        core.step(env.from, env.msg);
        this.drain(env.to);
        return;
      }
      case "episode":
        return this.startEpisode(ev.episode);
      case "heal-partition":
        if (ev.id === this.partitionId) {
          this.cuts = noCuts(this.capacity);
          this.log("partition healed");
          this.observer?.partition(this.cuts, null);
        }
        return;
      case "restart":
        if (this.slots[ev.node]!.core === null) this.boot(ev.node);
        return;
      case "client-next":
        return this.clientNext(ev.client);
      case "client-retry": {
        const op = this.clients[ev.client]!.op;
        if (op !== null && op.seq === ev.op) this.clientAttempt(ev.client);
        return;
      }
      case "client-arrive":
        return this.clientArrive(ev.node, ev.requestId);
      case "client-reply":
        return this.clientReply(ev.requestId, ev.result, ev.state);
      case "node-request-timeout":
        return this.slots[ev.node]!.core?.cancel(ev.requestId);
      case "client-attempt-timeout":
        return this.clientAttemptTimeout(ev.client, ev.attempt);
      case "end-faults":
        return this.endFaults();
      case "probe":
        return this.startProbe();
    }
  }

  private startEpisode(e: Episode): void {
    if (this.faultsOver) return;
    if (e.kind === "membership") return this.startChange();
    if (e.kind === "partition") {
      const { cuts, description } = cutsFor(e.shape, this.rng, this.ids, this.capacity, this.leaderNow());
      this.cuts = cuts;
      this.counts.partitions++;
      this.log(`FAULT ${description} for ${e.durationMs} ms`);
      this.observer?.partition(cuts, description);
      this.queue.push(this.now + e.durationMs, { kind: "heal-partition", id: ++this.partitionId });
      return;
    }
    if (e.target === "leader-after-accept" || e.target === "voter-after-accepted") {
      this.armedCrash = { target: e.target, durationMs: e.durationMs };
      this.log(`FAULT armed: ${e.target === "leader-after-accept" ? "the leader dies right after its next Accept" : "the next voter dies right after its Accepted"}`);
      return;
    }
    const members = this.members();
    const up = members.filter((id) => this.slots[id]!.core !== null);
    const leader = this.leaderNow();
    const victim = e.target === "leader" && leader !== null ? leader : up[this.rng.intBetween(0, up.length)];
    if (victim === undefined) return;
    this.crash(victim, e.target === "leader" && leader !== null ? "the leader" : "random node");
    this.queue.push(this.now + e.durationMs, { kind: "restart", node: victim });
  }

  private endFaults(): void {
    this.faultsOver = true;
    this.cuts = noCuts(this.capacity);
    this.partitionId++;
    this.observer?.partition(this.cuts, null);
    this.log(`FAULTS END: network healed, every member up (${this.members().join(",")}); the cluster must serve again`);
    this.startAddedNodes(this.membershipNow());
    for (const id of this.members()) if (this.slots[id]!.core === null) this.boot(id);
    this.queue.push(this.now + 1, { kind: "probe" });
  }

  // ---------------------------------------------------------- clients ----

  private newOp(client: ClientState, f: "append" | "read", command: Command | null, timeoutMs: number): ClientOp {
    return { seq: ++client.opSeq, f, command, deadline: this.now + timeoutMs, attempt: 0, backingOff: false, maybeApplied: new Set() };
  }

  private clientNext(c: number): void {
    const client = this.clients[c]!;
    if (this.faultsOver || client.op !== null) return;
    const isRead = this.rng.intBetween(0, 5) === 0;
    const command: Command | null = isRead ? null : { clientId: c + 1, commandId: client.nextCommandId++, payload: this.nextPayload++ };
    client.op = this.newOp(client, isRead ? "read" : "append", command, OP_TIMEOUT_MS);
    this.record(c, "invoke", client.op, null);
    if (command !== null) this.invariants.proposed(command);
    this.clientAttempt(c);
  }

  private startProbe(): void {
    // A fresh client appends once; it must be acknowledged within the recovery bound.
    const c = this.clients.length;
    const client: ClientState = { id: c, nextCommandId: 2, opSeq: 0, op: null, target: null };
    this.clients.push(client);
    const command = { clientId: c + 1, commandId: 1, payload: this.nextPayload++ };
    client.op = this.newOp(client, "append", command, this.recoveryBoundMs);
    this.probe = { requestedAt: this.now, client: c, done: false };
    this.record(c, "invoke", client.op, null);
    this.invariants.proposed(command);
    this.clientAttempt(c);
  }

  /** Sends the current op (again: a retry repeats the same command) to the hinted leader or a random node. */
  private clientAttempt(c: number): void {
    const client = this.clients[c]!;
    const op = client.op!;
    op.attempt++;
    op.backingOff = false;
    // Mostly a member; now and then any node ever created, removed ones too (they must refuse).
    const pool = this.rng.intBetween(0, 10) === 0 ? this.ids : this.members();
    const node = client.target ?? pool[this.rng.intBetween(0, pool.length)]!;
    const requestId = this.nextRequestId++;
    this.requests.set(requestId, { client: c, op: op.seq, attempt: op.attempt, node });
    this.queue.push(this.now + this.rng.intBetween(1, 4), { kind: "client-arrive", node, requestId });
    this.queue.push(this.now + ATTEMPT_TIMEOUT_MS, { kind: "client-attempt-timeout", client: c, attempt: op.attempt });
  }

  private clientArrive(node: NodeId, requestId: number): void {
    const req = this.requests.get(requestId);
    const core = this.slots[node]!.core;
    if (req !== undefined) this.observer?.clientRequest(req.client, node, core !== null);
    if (req === undefined || core === null) return; // the node is down: the attempt times out
    const op = this.clients[req.client]!.op;
    if (op === null || op.seq !== req.op) return;
    if (op.command !== null) {
      op.maybeApplied.add(req.attempt); // from here on a leader may put it in an Accept
      core.propose(requestId, op.command);
      this.queue.push(this.now + NODE_REQUEST_TIMEOUT_MS, { kind: "node-request-timeout", node, requestId });
    } else {
      core.read(requestId);
    }
    this.drain(node);
  }

  private clientReply(requestId: number, result: ClientResult, state: readonly number[] | null): void {
    const req = this.requests.get(requestId);
    if (req === undefined) return;
    this.requests.delete(requestId);
    this.observer?.clientReply(req.client, req.node, result);
    const client = this.clients[req.client]!;
    const op = client.op;
    if (op === null || op.seq !== req.op) return; // a late reply to a finished op
    if (result.kind === "appended" || result.kind === "read") {
      // Any attempt's success counts, even one we stopped waiting for.
      if (result.kind === "appended") this.invariants.acknowledged(op.command!.payload, result.index, state!, this.now);
      this.finish(req.client, "ok", state);
      return;
    }
    if (result.kind !== "rejected") throw new Error(`a client request got a ${result.kind} result`);
    if (result.outcome === "not_applied") op.maybeApplied.delete(req.attempt);
    if (req.attempt !== op.attempt || op.backingOff) return;
    client.target = result.leader;
    this.retryLater(req.client);
  }

  private clientAttemptTimeout(c: number, attempt: number): void {
    const op = this.clients[c]!.op;
    if (op === null || op.attempt !== attempt || op.backingOff) return;
    this.clients[c]!.target = null;
    this.retryLater(c);
  }

  private retryLater(c: number): void {
    const op = this.clients[c]!.op!;
    if (this.now >= op.deadline) {
      // Jepsen's rule: only a definite refusal is a failure; anything that may have happened is info.
      this.finish(c, op.f === "append" && op.maybeApplied.size === 0 ? "fail" : "info", null);
      return;
    }
    op.backingOff = true;
    this.queue.push(this.now + this.rng.intBetween(20, 100), { kind: "client-retry", client: c, op: op.seq });
  }

  private finish(c: number, type: "ok" | "info" | "fail", state: readonly number[] | null): void {
    const client = this.clients[c]!;
    const op = client.op!;
    this.record(c, type, op, state);
    client.op = null;
    if (this.probe?.client === c) {
      if (type !== "ok") throw new SafetyViolation(`liveness: after the faults ended, the probe append was not acknowledged within ${this.recoveryBoundMs} ms`);
      this.probe.done = true;
      this.log(`probe acknowledged after ${this.now - this.probe.requestedAt} ms`);
      return;
    }
    if (!this.faultsOver) this.queue.push(this.now + this.rng.intBetween(10, 100), { kind: "client-next", client: c });
  }

  private record(c: number, type: HistoryEvent["type"], op: ClientOp, state: readonly number[] | null): void {
    const value = op.command?.payload ?? null;
    const event: HistoryEvent = { process: c, type, f: op.f, value, state: state === null ? null : [...state], time: Math.round(this.now * 1_000_000) };
    this.history.push(event);
    this.observer?.clientOp(c, event);
    this.log(`client ${c} ${type} ${op.f}${value === null ? "" : ` ${value}`}${state === null ? "" : ` -> [${state.length} items${state.length ? `, last ${state[state.length - 1]}` : ""}]`}`);
  }

  // ------------------------------------------------------------ end ------

  private allCaughtUp(): boolean {
    const commits = this.members().map((id) => this.slots[id]!.core?.commitIndex ?? -1);
    // Every member knows as much as any node, a removed one included: a lone member proves nothing by agreeing with itself.
    const known = Math.max(...this.slots.map((s) => s.core?.commitIndex ?? -1));
    return commits.every((c) => c === known);
  }

  private finalChecks(): string | undefined {
    if (this.probe === null) return "the run ended before the faults did";
    if (!this.probe.done) return `liveness: after the faults ended, the probe append was not acknowledged within ${this.recoveryBoundMs} ms`;
    const members = this.members().map((id) => this.slots[id]!);
    if (!this.allCaughtUp()) {
      return `liveness: members did not converge after the faults ended (commit indexes ${this.members().map((id) => `n${id} ${this.slots[id]!.core?.commitIndex ?? "down"}`).join(", ")})`;
    }
    const lost = this.invariants.finalCheck(members.map((s) => s.core!));
    if (lost !== undefined) return lost;
    // Compaction keeps the log bounded: at most one snapshot interval of entries stays in memory.
    for (const s of members) {
      const kept = s.core!.commitIndex - s.core!.firstLoggedSlot;
      if (kept >= this.snapshotEvery) return `node ${s.core!.id} keeps ${kept} log entries, more than the snapshot interval ${this.snapshotEvery}`;
    }
    // The clients' view: their history must be linearizable (the strict model: a reply is exactly the list after the op).
    const verdict = checkHistory(historyFromEvents(this.history), { model: "strict", timeoutMs: 20_000 });
    if (verdict.valid === false) return `history not linearizable: ${verdict.explanation}`;
    if (verdict.valid === "unknown") return `linearizability check gave up: ${verdict.reason}`;
    return undefined;
  }
}

/**
 * The accepted records of a Ready that are votes: those an Accepted of the
 * same ballot and batch announces. A quiet acceptor of a thrifty Accept
 * records the values but announces nothing, so it has not voted.
 */
function votedRecords(persist: readonly PersistRecord[], votes: readonly Envelope[]): PersistRecord[] {
  return persist.filter(
    (r) =>
      r.type === "accepted" &&
      votes.some((e) => e.msg.type === "accepted" && e.msg.fromSlot === r.fromSlot && ballotEquals(e.msg.ballot, r.ballot)),
  );
}
