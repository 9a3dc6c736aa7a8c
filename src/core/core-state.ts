// The state of one Paxos node, shared by its roles, and what every role
// uses: the rules as overridable hooks, role changes, and output. The core
// is split by concern, as TigerBeetle splits its replica and etcd its raft:
//
//   core-state.ts       state, rules, roles, output          (this file)
//   acceptor.ts         Phase 1b and 2b: promises and votes
//   learner.ts          chosen values, catch-up, snapshots, replay
//   leader.ts           elections, Phase 1a and 2a, batching, heartbeats, reads
//   membership-role.ts  the membership in force, and changing it
//   paxos-core.ts       PaxosCore: the one pure Step/Ready surface
//
// Each layer extends the one before; a method a lower layer calls but a
// higher one implements is declared abstract at the end of CoreState.
// Citations in brackets ([PMS], [Chand], [PMMC], [VP], [Raft]) are listed
// at the top of paxos-core.ts.

import { compareBallots, NO_BALLOT } from "./ballot.js";
import { type Membership, type MembershipChange } from "./membership.js";
import { ReplicatedList } from "./replicated-list.js";
import { Rng } from "./rng.js";
import type {
  AppliedEntry,
  Ballot,
  ClientResult,
  Command,
  CoreConfig,
  Envelope,
  Message,
  NodeId,
  PersistRecord,
  Role,
  Snapshot,
  Value,
} from "./types.js";

export const NOOP: Value = { kind: "noop" };

/**
 * Whether a message states a durable vote, so that it may leave only once
 * the records of its Ready (and every earlier one) are on disk: a Promise
 * (Phase 1b) or an Accepted (Phase 2b) [PMS 2.2: an acceptor "remembers"
 * what it promised and accepted, through crashes]. Every other message, and
 * every client result, depends on nothing this node has still to write (a
 * chosen value is already durable on a majority), so it may go at once: the
 * leader's Accepts leave while its own vote is being written.
 */
export function waitsForDurability(msg: Message): boolean {
  return msg.type === "promise" || msg.type === "accepted";
}

/**
 * Whether a Ready's records need an fdatasync of their own: a vote of this
 * Ready waits for them, or they hold a snapshot (compaction replaces the
 * log). Otherwise (chosen values; what a quiet acceptor took from a thrifty
 * Accept) no message depends on them and a crash that loses them breaks no
 * promise made to anyone, so they may ride along with the next write.
 */
export function syncNeeded(ready: { readonly persist: readonly PersistRecord[]; readonly messages: readonly Envelope[] }): boolean {
  if (ready.persist.length === 0) return false;
  return ready.persist.some((r) => r.type === "snapshot") || ready.messages.some((e) => waitsForDurability(e.msg));
}

export interface AcceptedVote {
  readonly ballot: Ballot;
  readonly value: Value;
}

/** One Accept batch of the current leadership that is not yet chosen. */
export interface InflightBatch {
  readonly fromSlot: number;
  readonly values: readonly Value[];
  readonly acks: Set<NodeId>;
  /** The voters of the membership in force for these slots (a batch never spans a change). */
  readonly voters: ReadonlySet<NodeId>;
  /** Every member of that membership: who gets the Accept again when it is resent. */
  readonly members: readonly NodeId[];
  sentAtTick: number;
  /** Thrifty Phase 2a: the members asked not to vote (empty once every acceptor was asked). */
  quiet: readonly NodeId[];
}

/** A membership value in a slot this leader proposed or recovered, not yet applied. */
export interface MembershipInFlight {
  readonly slot: number;
  readonly membership: Membership;
}

export interface PendingCommand {
  readonly key: string;
  readonly command: Command;
  /** The node whose client sent it: this leader, or the follower that forwarded it (a small batch at low load asks it first). */
  readonly via: NodeId;
}

/** Client requests waiting for one command to be applied. */
export interface Waiter {
  readonly requestIds: number[];
  /** A copy may sit in some leader's queue or in a slot: a failure is then "unknown", never "not_applied". */
  proposed: boolean;
  /** Set on a follower: the command is forwarded to the leader and answered here once applied. */
  forward: { readonly command: Command; sentAtTick: number; sends: number; lastSeq: number } | null;
}

export interface PendingRead {
  readonly requestId: number;
  /** Every slot below must be applied before the read may answer. */
  readonly readIndex: number;
  /** A majority must acknowledge a heartbeat with at least this seq. */
  readonly seq: number;
}

/** What the leader says when its own rules hold a change back. */
export const CHANGE_GATE_MESSAGES: Record<"not_leader" | "not_ready" | "change_pending", string> = {
  not_leader: "this node does not lead; ask the leader",
  not_ready: "the leader has not yet had the slots it recovered chosen; try again in a moment",
  change_pending: "another membership change is in progress; one at a time",
};

/** Everything a node knows; see the roles for what it does. */
export abstract class CoreState {
  readonly id: NodeId;
  readonly list: ReplicatedList;
  protected readonly cfg: CoreConfig;
  protected readonly rng: Rng;
  protected now = 0; // in ticks

  // --- membership (membership.ts) ---
  /** The membership in force after the applied log: what a snapshot holds. */
  protected applied: Membership;
  /** The newest membership this node knows (applied, or given by the runtime): who the peers are, who may campaign. */
  protected known!: Membership;
  /** The voters of `known`. */
  protected voters!: ReadonlySet<NodeId>;
  /** Every member of `known` but this node: whom broadcasts reach. */
  protected peers: readonly NodeId[] = [];
  /** This node applied its own removal: it takes no further part. */
  protected removed = false;
  /** `known` changed since the last Ready. */
  protected membershipChanged = false;

  // --- acceptor state (durable) ---
  protected promised: Ballot = NO_BALLOT;
  /** Votes for slots not yet known chosen. */
  protected readonly accepted = new Map<number, AcceptedVote>();

  // --- learner state ---
  /** Slots below were folded into a snapshot: the log starts here. */
  protected logStart = 0;
  /** Chosen values of slots [logStart, commitIndex), applied in order. */
  protected log: Value[] = [];
  /** Chosen values known above the first gap. */
  protected readonly chosenAhead = new Map<number, Value>();
  /** A follower's count of the Accepteds it heard for small batches, by the batch's first slot (see onPeerAccepted). */
  protected readonly peerAccepts = new Map<number, { readonly ballot: Ballot; readonly count: number; readonly from: Set<NodeId> }>();

  // --- role state ---
  protected role: Role = "follower";
  protected leader: NodeId | null = null;
  protected electionElapsed = 0;
  protected electionTimeout: number;
  protected highestRoundSeen = 0;
  /** Tick at which a follower last heard from its leader. */
  protected lastLeaderContact = -Infinity;

  // pre-candidate
  protected preVoteBallot: Ballot | null = null;
  protected readonly preVotes = new Set<NodeId>();

  // candidate
  protected ownBallot: Ballot | null = null;
  protected prepareFromSlot = 0;
  protected selfPrepared = false;
  protected readonly promises = new Map<NodeId, Extract<Message, { type: "promise" }>>();
  /** Whom this candidate asked for a promise: the members of every membership it must hear a quorum of (Coverage). */
  protected readonly prepareTargets = new Set<NodeId>();

  // leader
  protected nextSlot = 0;
  protected readonly inflight = new Map<number, InflightBatch>();
  protected pending: PendingCommand[] = [];
  /** Commands queued, in an Accept or forwarded, not yet applied, by command key, with their waiting requests. */
  protected readonly waiters = new Map<string, Waiter>();
  /** The commit point the followers were last told (in an Accept, a heartbeat or a Commit). */
  protected commitAnnounced = 0;
  protected heartbeatElapsed = 0;
  protected heartbeatSeq = 0;
  protected heartbeatDue = false;
  protected readonly ackedSeq = new Map<NodeId, number>();
  protected readonly lastHeardTick = new Map<NodeId, number>();
  /** The acceptors whose votes completed the last chosen batch, in arrival order: whom a thrifty Accept asks first. */
  protected fastVoters: readonly NodeId[] = [];
  /** Whether this leader's last client batch was small (at most acceptedToAllUpTo values): low load, for clientBatchAsks. */
  protected lastBatchSmall = false;
  /** Thrifty batches that had to ask every acceptor (for the operator: a follower it asked was slow or gone). */
  protected thriftyFallbackCount = 0;
  protected pendingReads: PendingRead[] = [];
  /** The nodes that promised this leader's ballot (Coverage). */
  protected readonly promisedBy = new Set<NodeId>();
  /** Membership values this leader recovered above the commit point (not yet applied). */
  protected recoveredChanges: MembershipInFlight[] = [];
  /** This leader's own change, in a slot and not yet applied (Stall: nothing goes above it until it is chosen). */
  protected ownChange: (MembershipInFlight & { readonly requestId: number | null }) | null = null;
  /** A validated change waiting for its slot. */
  protected queuedChange: { readonly requestId: number; readonly change: MembershipChange } | null = null;
  /** The first slot this leader proposed itself, above the ones it recovered (One: no change before it is chosen). */
  protected firstOwnSlot = 0;
  /** Each peer's commit index, from its last heartbeat ack (a learner is promoted once it caught up). */
  protected readonly peerCommit = new Map<NodeId, number>();
  /** When this leader last asked members it lacks for a promise (Coverage). */
  protected coverageAskedAt = -Infinity;

  // follower: commands to hand to the leader in the next ready(), and the last Propose's number
  protected forwardQueue: Command[] = [];
  protected proposeSeq = 0;
  /** The waiter (by command key) of every request waiting in `waiters`, so cancel() is O(1). */
  protected readonly requestKeys = new Map<number, string>();

  // follower catch-up
  protected catchupSentAtTick: number | null = null;
  protected leaderCommitIndex = 0;

  // --- output, drained by ready() ---
  protected outPersist: PersistRecord[] = [];
  protected outMessages: Envelope[] = [];
  protected outResults: ClientResult[] = [];
  protected outApplied: AppliedEntry[] = [];

  constructor(cfg: CoreConfig) {
    this.cfg = cfg;
    this.id = cfg.id;
    this.rng = new Rng(cfg.seed);
    this.list = new ReplicatedList(cfg.maxSessions, cfg.dedupWindowSlots ?? Math.max(10_000, 8 * cfg.maxInflight * cfg.maxBatch));
    this.electionTimeout = this.randomElectionTimeout();
    this.applied = cfg.genesis;
  }

  /** The number of chosen slots known in order (every slot below is chosen and applied). */
  get commitIndex(): number {
    return this.logStart + this.log.length;
  }

  // ------------------------------------------- rules, as overridable hooks ----
  // Each hook is one rule of the protocol. Production code never overrides
  // them; the simulator's tests do, to prove that breaking any one of them is
  // caught (test/sim/injected-bugs.test.ts).

  /** Acceptor rule [PMS 2.2 P1a]: answer a ballot only if it is at least the one promised. */
  protected admits(ballot: Ballot): boolean {
    // A leader also refuses ballots below its own (refusing is always safe):
    // it may lead before its own promise is on disk, and must not follow an
    // older leader then. A candidate does follow a live older leader.
    const belowOwn = this.role === "leader" && compareBallots(ballot, this.ownBallot!) < 0;
    return compareBallots(ballot, this.promised) >= 0 && !belowOwn;
  }

  /** Recovery rule [PMS 2.2 P2c]: of the reported votes for a slot, keep the one with the highest ballot. */
  protected outranks(vote: AcceptedVote, current: AcceptedVote | undefined): boolean {
    return current === undefined || compareBallots(vote.ballot, current.ballot) > 0;
  }

  /** Learner rule: apply strictly in slot order, the next slot only once it is known chosen. */
  protected nextToApply(): { slot: number; value: Value } | undefined {
    const value = this.chosenAhead.get(this.commitIndex);
    return value === undefined ? undefined : { slot: this.commitIndex, value };
  }

  /**
   * Effect [PMMC sec. 3, alpha = 1]: the membership of `slot` is the one
   * chosen (or, at this leader, proposed or recovered) in the highest slot
   * below it. By Stall this leader never proposes above its own change
   * before it is chosen, so its own change counts only for slots it may use.
   */
  protected membershipFor(slot: number): Membership {
    let m = this.known;
    for (const c of this.governingMemberships()) if (c.slot < slot && c.slot > m.slot) m = c;
    return m;
  }

  /**
   * Stall: nothing is proposed above this leader's own change until it is
   * chosen and applied, so that the membership the slots above get is the
   * one every node applies, not the leader's prediction.
   */
  protected proposalsStalled(): boolean {
    return this.ownChange !== null;
  }

  /**
   * One [Raft 4.1 and its erratum]: a leader takes a change only once every
   * slot it recovered is chosen (its own first slot is), and none is pending.
   */
  protected mayProposeChange(): "not_leader" | "not_ready" | "change_pending" | null {
    if (this.removed || this.role !== "leader") return "not_leader";
    if (this.commitIndex < this.firstOwnSlot) return "not_ready";
    if (this.ownChange !== null || this.queuedChange !== null) return "change_pending";
    return null;
  }

  /** Whether this leader's own change has a slot and is not yet applied (for the rule hooks' tests). */
  protected ownChangeInFlight(): boolean {
    return this.ownChange !== null && this.queuedChange === null;
  }

  // ------------------------------------------------------------ roles ----

  protected becomeFollower(leader: NodeId | null): void {
    this.stepDownRejectingClients(leader);
    const newLeader = leader !== null && leader !== this.leader;
    this.role = "follower";
    this.leader = leader;
    this.ownBallot = null;
    this.preVoteBallot = null;
    this.promises.clear();
    this.catchupSentAtTick = null;
    this.leaderCommitIndex = 0; // a new leader tells its own
    if (newLeader) this.forwardAgain(() => true); // the old leader may never have got them
  }

  /** Leaving leadership: commands already sent may still be chosen by a later leader; queued ones never will. */
  protected stepDownRejectingClients(newLeader: NodeId | null): void {
    if (this.role !== "leader") return;
    for (const [key, w] of this.waiters) {
      const outcome = w.proposed ? "unknown" : "not_applied";
      this.settle(key, w, (requestId) => ({ kind: "rejected", requestId, reason: "not_leader", outcome, leader: newLeader }));
    }
    for (const r of this.pendingReads) {
      this.outResults.push({ kind: "rejected", requestId: r.requestId, reason: "not_leader", outcome: "not_applied", leader: newLeader });
    }
    this.pendingReads = [];
    this.pending = [];
    this.inflight.clear();
    this.heartbeatDue = false;
    // A change in a slot may still be chosen by a later leader (unknown); a queued one never will be.
    if (this.ownChange?.requestId != null) {
      this.outResults.push({ kind: "rejected", requestId: this.ownChange.requestId, reason: "not_leader", outcome: "unknown", leader: newLeader });
    }
    if (this.queuedChange !== null) {
      this.outResults.push({ kind: "rejected", requestId: this.queuedChange.requestId, reason: "not_leader", outcome: "not_applied", leader: newLeader });
    }
    this.ownChange = null;
    this.queuedChange = null;
    this.recoveredChanges = [];
  }

  protected noteRound(b: Ballot): void {
    this.highestRoundSeen = Math.max(this.highestRoundSeen, b.round);
  }

  protected randomElectionTimeout(): number {
    return this.rng.intBetween(this.cfg.electionTicksMin, this.cfg.electionTicksMax);
  }

  // ----------------------------------------------------------- output ----

  protected send(to: NodeId, msg: Message): void {
    this.outMessages.push({ from: this.id, to, msg });
  }

  protected broadcast(msg: Message, includingSelf: boolean): void {
    if (includingSelf) this.send(this.id, msg);
    for (const p of this.peers) this.send(p, msg);
  }

  protected attach(requestId: number, key: string, w: Waiter): void {
    w.requestIds.push(requestId);
    this.waiters.set(key, w);
    this.requestKeys.set(requestId, key);
  }

  /** Ends a waiter: every request waiting on it gets its result. */
  protected settle(key: string, w: Waiter, result: (requestId: number) => ClientResult): void {
    this.waiters.delete(key);
    for (const requestId of w.requestIds) {
      this.requestKeys.delete(requestId);
      this.outResults.push(result(requestId));
    }
  }

  // ------------------------------------------- implemented by the roles ----
  protected abstract snapshotNow(): Snapshot;
  protected abstract followLeader(ballot: Ballot, leaderCommit: number): void;
  protected abstract leaderRecentlyAlive(): boolean;
  protected abstract forwardAgain(due: (f: NonNullable<Waiter["forward"]>) => boolean): void;
  protected abstract governingMemberships(): Membership[];
  protected abstract switchMembership(m: Membership): void;
  protected abstract applyMembership(slot: number, value: Extract<Value, { kind: "membership" }>): void;
}
