// Multi-Paxos with a stable leader, as a pure deterministic state machine.
//
// Inputs: tick(), step(from, message), propose(), read(). Output: ready(),
// which drains the records to persist, the messages to send, the client
// results and the applied entries. The caller must make every record of a
// Ready (and of every earlier one) durable before it sends that Ready's
// Promises and Accepteds (waitsForDurability): that is what makes them
// durable votes. Other messages and the results may go at once. Messages
// addressed to this node itself are delivered back through step() like any
// other, under the same rule: the leader's own acceptor votes that way too.
//
// Membership changes are values in the log (membership.ts, with the rules
// Effect, Stall, Coverage and One; docs/reconfiguration.md argues them):
// quorums are those of the membership in force for each slot.
//
// References:
//   [PMS]   Lamport, "Paxos Made Simple", 2001.
//   [Chand] Chand, Liu, Stoller, "Formal Verification of Multi-Paxos for
//           Distributed Consensus", 2016 (Fig. 1: phase1a/1b/2a/2b, learn).
//   [PMMC]  van Renesse, Altinbuken, "Paxos Made Moderately Complex", 2015.
//   [VP]    Lamport, Malkhi, Zhou, "Vertical Paxos and Primary-Backup
//           Replication", 2009.
//   [Raft]  Ongaro, "Consensus: Bridging Theory and Practice", 2014, ch. 4.

import { ballotEquals, compareBallots, maxBallot, NO_BALLOT } from "./ballot.js";
import {
  checkMembership,
  findMember,
  memberIds,
  nextMembership,
  voterIds,
  type ChangeRefusal,
  type Membership,
  type MembershipChange,
} from "./membership.js";
import { isQuorum } from "./quorum.js";
import { ReplicatedList } from "./replicated-list.js";
import { Rng } from "./rng.js";
import type {
  AppliedEntry,
  Ballot,
  ClientResult,
  Command,
  CoreConfig,
  CoreStatus,
  Envelope,
  Message,
  NodeId,
  PersistRecord,
  Ready,
  Role,
  SlotVote,
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

export interface AcceptedVote {
  readonly ballot: Ballot;
  readonly value: Value;
}

/** One Accept batch of the current leadership that is not yet chosen. */
interface InflightBatch {
  readonly fromSlot: number;
  readonly values: readonly Value[];
  readonly acks: Set<NodeId>;
  /** The voters of the membership in force for these slots (a batch never spans a change). */
  readonly voters: ReadonlySet<NodeId>;
  /** Every member of that membership: who gets the Accept again when it is resent. */
  readonly members: readonly NodeId[];
  sentAtTick: number;
}

/** A membership value in a slot this leader proposed or recovered, not yet applied. */
interface MembershipInFlight {
  readonly slot: number;
  readonly membership: Membership;
}

interface PendingCommand {
  readonly key: string;
  readonly command: Command;
}

/** Client requests waiting for one command to be applied. */
interface Waiter {
  readonly requestIds: number[];
  /** A copy may sit in some leader's queue or in a slot: a failure is then "unknown", never "not_applied". */
  proposed: boolean;
  /** Set on a follower: the command is forwarded to the leader and answered here once applied. */
  forward: { readonly command: Command; sentAtTick: number; sends: number; lastSeq: number } | null;
}

interface PendingRead {
  readonly requestId: number;
  /** Every slot below must be applied before the read may answer. */
  readonly readIndex: number;
  /** A majority must acknowledge a heartbeat with at least this seq. */
  readonly seq: number;
}

function commandKey(c: Command): string {
  return `${c.clientId}/${c.commandId}/${c.payload}`;
}

/** What the leader says when its own rules hold a change back. */
const CHANGE_GATE_MESSAGES: Record<"not_leader" | "not_ready" | "change_pending", string> = {
  not_leader: "this node does not lead; ask the leader",
  not_ready: "the leader has not yet had the slots it recovered chosen; try again in a moment",
  change_pending: "another membership change is in progress; one at a time",
};

export class PaxosCore {
  readonly id: NodeId;
  readonly list: ReplicatedList;
  private readonly cfg: CoreConfig;
  private readonly rng: Rng;
  private now = 0; // in ticks

  // --- membership (membership.ts) ---
  /** The membership in force after the applied log: what a snapshot holds. */
  private applied: Membership;
  /** The newest membership this node knows (applied, or given by the runtime): who the peers are, who may campaign. */
  private known!: Membership;
  /** The voters of `known`. */
  private voters!: ReadonlySet<NodeId>;
  /** Every member of `known` but this node: whom broadcasts reach. */
  private peers: readonly NodeId[] = [];
  /** This node applied its own removal: it takes no further part. */
  private removed = false;
  /** `known` changed since the last Ready. */
  private membershipChanged = false;

  // --- acceptor state (durable) ---
  private promised: Ballot = NO_BALLOT;
  /** Votes for slots not yet known chosen. */
  private readonly accepted = new Map<number, AcceptedVote>();

  // --- learner state ---
  /** Slots below were folded into a snapshot: the log starts here. */
  private logStart = 0;
  /** Chosen values of slots [logStart, commitIndex), applied in order. */
  private log: Value[] = [];
  /** Chosen values known above the first gap. */
  protected readonly chosenAhead = new Map<number, Value>();

  // --- role state ---
  private role: Role = "follower";
  private leader: NodeId | null = null;
  private electionElapsed = 0;
  private electionTimeout: number;
  private highestRoundSeen = 0;
  /** Tick at which a follower last heard from its leader. */
  private lastLeaderContact = -Infinity;

  // pre-candidate
  private preVoteBallot: Ballot | null = null;
  private readonly preVotes = new Set<NodeId>();

  // candidate
  private ownBallot: Ballot | null = null;
  private prepareFromSlot = 0;
  private selfPrepared = false;
  private readonly promises = new Map<NodeId, Extract<Message, { type: "promise" }>>();
  /** Whom this candidate asked for a promise: the members of every membership it must hear a quorum of (Coverage). */
  private readonly prepareTargets = new Set<NodeId>();

  // leader
  private nextSlot = 0;
  private readonly inflight = new Map<number, InflightBatch>();
  private pending: PendingCommand[] = [];
  /** Commands queued, in an Accept or forwarded, not yet applied, by command key, with their waiting requests. */
  private readonly waiters = new Map<string, Waiter>();
  /** The commit point the followers were last told (in an Accept, a heartbeat or a Commit). */
  private commitAnnounced = 0;
  private heartbeatElapsed = 0;
  private heartbeatSeq = 0;
  private heartbeatDue = false;
  private readonly ackedSeq = new Map<NodeId, number>();
  private readonly lastHeardTick = new Map<NodeId, number>();
  private pendingReads: PendingRead[] = [];
  /** The nodes that promised this leader's ballot (Coverage). */
  private readonly promisedBy = new Set<NodeId>();
  /** Membership values this leader recovered above the commit point (not yet applied). */
  private recoveredChanges: MembershipInFlight[] = [];
  /** This leader's own change, in a slot and not yet applied (Stall: nothing goes above it until it is chosen). */
  private ownChange: (MembershipInFlight & { readonly requestId: number | null }) | null = null;
  /** A validated change waiting for its slot. */
  private queuedChange: { readonly requestId: number; readonly change: MembershipChange } | null = null;
  /** The first slot this leader proposed itself, above the ones it recovered (One: no change before it is chosen). */
  private firstOwnSlot = 0;
  /** Each peer's commit index, from its last heartbeat ack (a learner is promoted once it caught up). */
  private readonly peerCommit = new Map<NodeId, number>();
  /** When this leader last asked members it lacks for a promise (Coverage). */
  private coverageAskedAt = -Infinity;

  // follower: commands to hand to the leader in the next ready(), and the last Propose's number
  private forwardQueue: Command[] = [];
  private proposeSeq = 0;
  /** The waiter (by command key) of every request waiting in `waiters`, so cancel() is O(1). */
  private readonly requestKeys = new Map<number, string>();

  // follower catch-up
  private catchupSentAtTick: number | null = null;
  private leaderCommitIndex = 0;

  // --- output, drained by ready() ---
  private outPersist: PersistRecord[] = [];
  private outMessages: Envelope[] = [];
  private outResults: ClientResult[] = [];
  private outApplied: AppliedEntry[] = [];

  /** Builds a node from its config and replays its durable records (in write order). */
  constructor(cfg: CoreConfig, records: readonly PersistRecord[] = [], snapshot: Snapshot | null = null) {
    checkMembership(cfg.genesis);
    if (cfg.known !== undefined) checkMembership(cfg.known);
    this.cfg = cfg;
    this.id = cfg.id;
    this.rng = new Rng(cfg.seed);
    this.list = new ReplicatedList(cfg.maxSessions, cfg.dedupWindowSlots ?? Math.max(10_000, 8 * cfg.maxInflight * cfg.maxBatch));
    this.electionTimeout = this.randomElectionTimeout();
    this.applied = cfg.genesis;
    this.setKnown(cfg.known !== undefined && cfg.known.slot > cfg.genesis.slot ? cfg.known : cfg.genesis);
    this.restore(snapshot, records);
    this.membershipChanged = false;
  }

  // ------------------------------------------------------------ inputs ----

  /** Advances logical time by one tick. */
  tick(): void {
    this.now++;
    if (this.removed) return;
    if (this.role === "leader") {
      this.heartbeatElapsed++;
      if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) this.heartbeatDue = true;
      this.resendStaleAccepts();
      this.askForCoverage();
      this.checkQuorum();
    } else {
      if (this.mayCampaign()) {
        this.electionElapsed++;
        if (this.electionElapsed >= this.electionTimeout) this.startPreVote();
      }
      if (this.now % this.cfg.resendTicks === 0) this.forwardAgain((f) => this.now - f.sentAtTick >= this.cfg.resendTicks);
      if (this.catchupSentAtTick !== null && this.now - this.catchupSentAtTick >= this.cfg.resendTicks) {
        this.catchupSentAtTick = null;
        this.requestCatchupIfBehind();
      }
    }
  }

  /** Handles one message from another node (or from this node to itself). */
  step(from: NodeId, msg: Message): void {
    if (this.removed) {
      // It applied its own removal: no further part, but for one courtesy. A voter still campaigning in a
      // membership that counted this node may not know the removal was chosen (the last Commit can be lost,
      // and with two voters left the other cannot win without this one): send it the chosen values it may
      // lack, the removal among them. Chosen values are safe to hand anyone; a ballot would not be.
      if (msg.type === "preVote" || msg.type === "prepare") this.sendChosenTail(from);
      return;
    }
    // Only voters campaign: a removed node that does not know it yet, or a
    // stranger, cannot start elections here. Everything else is taken from
    // anyone: a lagging node must hear a leader it does not know yet (one
    // added since) to catch up, and votes count only by membership anyway.
    if ((msg.type === "preVote" || msg.type === "prepare") && from !== this.id && !this.voters.has(from)) {
      // The leader tells it where the log is, so it catches up and learns that it was removed (or added).
      if (this.role === "leader") this.send(from, { type: "commit", ballot: this.ownBallot!, commitIndex: this.commitIndex });
      return;
    }
    switch (msg.type) {
      case "preVote":
        return this.onPreVote(from, msg);
      case "preVoteReply":
        return this.onPreVoteReply(from, msg);
      case "prepare":
        return this.onPrepare(from, msg);
      case "promise":
        return this.onPromise(from, msg);
      case "accept":
        return this.onAccept(from, msg);
      case "accepted":
        return this.onAccepted(from, msg);
      case "nack":
        return this.onNack(msg);
      case "heartbeat":
        return this.onHeartbeat(from, msg);
      case "heartbeatAck":
        return this.onHeartbeatAck(from, msg);
      case "catchupRequest":
        return this.onCatchupRequest(from, msg);
      case "catchupReply":
        return this.onCatchupReply(msg);
      case "installSnapshot":
        return this.onInstallSnapshot(msg);
      case "propose":
        return this.onPropose(from, msg);
      case "proposeRefused":
        return this.onProposeRefused(msg);
      case "commit":
        this.onCommit(from, msg);
        return;
    }
  }

  /**
   * A client asks to append a command; the answer comes later as a
   * ClientResult. The leader queues it for a slot; a follower that knows the
   * leader forwards it there and answers once it has applied the command
   * itself (etcd's MsgProp does the same), so the reply, cut from this node's
   * own copy of the list, never crosses the network again.
   */
  propose(requestId: number, command: Command): void {
    if (this.removed) {
      this.outResults.push({ kind: "rejected", requestId, reason: "removed", outcome: "not_applied", leader: null });
      return;
    }
    // Applied here means chosen: any node may say so, whatever its role.
    const done = this.list.lookup(command);
    if (done === "stale") {
      // An older copy may have been applied long ago (beyond the duplicate window): "unknown", not "not_applied".
      this.outResults.push({ kind: "rejected", requestId, reason: "stale", outcome: "unknown", leader: this.id });
      return;
    }
    if (done !== undefined) {
      this.outResults.push({ kind: "appended", requestId, index: done, duplicate: true });
      return;
    }
    const key = commandKey(command);
    const waiting = this.waiters.get(key);
    if (waiting !== undefined) {
      this.attach(requestId, key, waiting); // the same command is already on its way
      return;
    }
    if (!this.acceptsProposals()) {
      this.outResults.push({ kind: "rejected", requestId, reason: "not_leader", outcome: "not_applied", leader: this.leader });
      return;
    }
    if (this.role !== "leader") {
      if (this.waiters.size >= this.cfg.maxPending) {
        this.outResults.push({ kind: "rejected", requestId, reason: "overloaded", outcome: "not_applied", leader: this.leader });
        return;
      }
      this.attach(requestId, key, { requestIds: [], proposed: false, forward: { command, sentAtTick: this.now, sends: 0, lastSeq: 0 } });
      this.forwardQueue.push(command);
      return;
    }
    if (this.pending.length >= this.cfg.maxPending) {
      this.outResults.push({ kind: "rejected", requestId, reason: "overloaded", outcome: "not_applied", leader: this.id });
      return;
    }
    this.pending.push({ key, command });
    this.attach(requestId, key, { requestIds: [], proposed: false, forward: null });
  }

  /** Whether propose() takes a new command now: as the leader, or as a follower that knows the leader. */
  acceptsProposals(): boolean {
    if (this.removed) return true; // to refuse it: the node is no longer a member
    return this.role === "leader" || (this.role === "follower" && this.leader !== null && this.leader !== this.id);
  }

  /**
   * A membership change [rule One, membership.ts]: the leader checks it and
   * gives it a slot of its own as soon as nothing is in its way; the answer
   * comes when the change is applied ("changed"), or at once when it is
   * refused ("changeRefused": nothing changed).
   */
  proposeChange(requestId: number, change: MembershipChange): void {
    const refuse = (refusal: ChangeRefusal, message: string): void => {
      this.outResults.push({ kind: "changeRefused", requestId, refusal, message, leader: this.removed ? null : this.leader });
    };
    const gate = this.mayProposeChange();
    if (gate !== null) return refuse(gate, CHANGE_GATE_MESSAGES[gate]);
    const next = nextMembership(this.membershipFor(this.nextSlot), change, this.nextSlot);
    if (!next.ok) return refuse(next.refusal, next.message);
    // What only the leader knows [TigerBeetle's reconfiguration check at prepare time]:
    // the change must leave a quorum it can hear, and a learner is promoted once caught up.
    const after = voterIds(next.membership);
    const alive = [...after].filter((id) => id === this.id || this.now - (this.lastHeardTick.get(id) ?? -Infinity) < this.cfg.electionTicksMin);
    if (!isQuorum(after, alive)) {
      return refuse("would_lose_quorum", `after the change ${alive.length} of its ${after.size} voters answer this leader, fewer than a majority`);
    }
    if (change.kind === "promote") {
      const heard = this.peerCommit.get(change.id);
      if (heard === undefined) return refuse("learner_behind", `learner ${change.id} has not answered this leader yet; promote it once it has caught up`);
      const behind = this.commitIndex - heard;
      if (behind > this.cfg.maxBatch * this.cfg.maxInflight) {
        return refuse("learner_behind", `learner ${change.id} is ${behind} slots behind the leader; promote it once it has caught up`);
      }
    }
    this.queuedChange = { requestId, change };
  }

  /**
   * A member refused this node's peer traffic because it applied this
   * node's removal, and sent the membership it knows. Adopting it only
   * stops this node (a removed node takes no part), which is always safe;
   * it is taken only when it is newer and really leaves this node out.
   */
  learnRemoval(m: Membership): void {
    if (this.removed || m.slot <= this.known.slot || findMember(m, this.id) !== undefined) return;
    checkMembership(m);
    this.switchMembership(m);
  }

  /** The newest membership this node knows. */
  membership(): Membership {
    return this.known;
  }

  private attach(requestId: number, key: string, w: Waiter): void {
    w.requestIds.push(requestId);
    this.waiters.set(key, w);
    this.requestKeys.set(requestId, key);
  }

  /** Ends a waiter: every request waiting on it gets its result. */
  private settle(key: string, w: Waiter, result: (requestId: number) => ClientResult): void {
    this.waiters.delete(key);
    for (const requestId of w.requestIds) {
      this.requestKeys.delete(requestId);
      this.outResults.push(result(requestId));
    }
  }

  /**
   * The caller stopped waiting for a request (it timed out). A follower then
   * stops forwarding a command nobody waits for; a leader keeps it queued,
   * since it is the anchor that keeps a retry from taking a second slot.
   */
  cancel(requestId: number): void {
    const key = this.requestKeys.get(requestId);
    if (key === undefined) return;
    this.requestKeys.delete(requestId);
    const w = this.waiters.get(key);
    if (w === undefined) return;
    const i = w.requestIds.indexOf(requestId);
    if (i >= 0) w.requestIds.splice(i, 1);
    if (w.requestIds.length === 0 && w.forward !== null) this.waiters.delete(key);
  }

  /**
   * A linearizable read (the "read index" technique): remember the next
   * slot, confirm with a majority that this node still leads, wait until
   * everything below that slot is applied, then answer with the list length.
   */
  read(requestId: number): void {
    if (this.removed || this.role !== "leader") {
      this.outResults.push({ kind: "rejected", requestId, reason: "not_leader", outcome: "not_applied", leader: this.leader });
      return;
    }
    if (this.pendingReads.length >= this.cfg.maxPending) {
      this.outResults.push({ kind: "rejected", requestId, reason: "overloaded", outcome: "not_applied", leader: this.id });
      return;
    }
    // Only a heartbeat sent after the read arrived can confirm it: the next one.
    this.heartbeatDue = true;
    this.pendingReads.push({ requestId, readIndex: this.nextSlot, seq: this.heartbeatSeq + 1 });
    this.completeReads();
  }

  /** Drains the output. Queued proposals and heartbeats are sent here, so concurrent requests batch. */
  ready(): Ready {
    this.flushProposals();
    this.flushForwards();
    if (this.heartbeatDue) this.broadcastHeartbeat();
    this.announceCommit();
    const out: Ready = {
      persist: this.outPersist,
      messages: this.outMessages,
      results: this.outResults,
      applied: this.outApplied,
      membership: this.membershipChanged ? this.known : null,
    };
    this.membershipChanged = false;
    this.outPersist = [];
    this.outMessages = [];
    this.outResults = [];
    this.outApplied = [];
    return out;
  }

  hasReady(): boolean {
    return (
      this.outPersist.length > 0 ||
      this.outMessages.length > 0 ||
      this.outResults.length > 0 ||
      this.outApplied.length > 0 ||
      this.membershipChanged ||
      this.heartbeatDue ||
      ((this.pending.length > 0 || this.queuedChange !== null) && this.canSendBatch()) ||
      this.forwardQueue.length > 0 ||
      (this.role === "leader" && this.commitIndex > this.commitAnnounced)
    );
  }

  status(): CoreStatus {
    return {
      id: this.id,
      role: this.role,
      member: this.removed ? "removed" : this.voters.has(this.id) ? "voter" : "learner",
      membership: this.known,
      leader: this.leader,
      promised: this.promised,
      ownBallot: this.ownBallot,
      commitIndex: this.commitIndex,
      appliedIndex: this.commitIndex,
      listLength: this.list.length,
    };
  }

  /** The number of chosen slots known in order (every slot below is chosen and applied). */
  get commitIndex(): number {
    return this.logStart + this.log.length;
  }

  /** The first slot whose chosen value is still in the log (earlier ones are in the snapshot). */
  get firstLoggedSlot(): number {
    return this.logStart;
  }

  /** The chosen value of a slot in [firstLoggedSlot, commitIndex). */
  chosenValue(slot: number): Value | undefined {
    return slot < this.logStart ? undefined : this.log[slot - this.logStart];
  }

  // --------------------------------------------------------- acceptor ----

  /** Phase 1b [PMS 2.2; Chand Fig. 1 phase1b]: promise a ballot at least as high as any promised. */
  private onPrepare(from: NodeId, msg: Extract<Message, { type: "prepare" }>): void {
    this.noteRound(msg.ballot);
    // Leader stickiness (as Raft sec. 6 / check-quorum): while a leader is
    // known to be alive, a prepare from anyone else is ignored, so a node
    // that was cut off or restarted cannot depose a healthy leader. Refusing
    // to promise is always safe; it only delays an election, and once the
    // leader is silent for an election timeout prepares are answered again.
    if (from !== this.id && from !== this.leader && this.leaderRecentlyAlive()) return;
    if (!this.admits(msg.ballot)) {
      this.send(from, { type: "nack", ballot: msg.ballot, promised: this.promised });
      return;
    }
    if (msg.fromSlot < this.logStart) {
      // We can no longer report the chosen values the candidate lacks (they are in our snapshot):
      // send it the snapshot instead of a promise; it campaigns again from further on.
      this.send(from, { type: "installSnapshot", snapshot: this.snapshotNow() });
      return;
    }
    if (compareBallots(msg.ballot, this.promised) > 0) {
      this.promised = msg.ballot;
      this.outPersist.push({ type: "promised", ballot: msg.ballot });
    }
    if (from !== this.id) {
      // Someone else campaigns with a ballot we now promised: follow, and give it time to win.
      this.becomeFollower(null);
      this.electionElapsed = 0;
    }
    this.send(from, {
      type: "promise",
      ballot: msg.ballot,
      fromSlot: msg.fromSlot,
      votes: this.votesFrom(msg.fromSlot),
      commitIndex: this.commitIndex,
    });
  }

  /** The votes a Promise reports: only slots >= fromSlot, so no message grows with history. */
  private votesFrom(fromSlot: number): SlotVote[] {
    const votes: SlotVote[] = [];
    for (let s = fromSlot; s < this.commitIndex; s++) {
      votes.push({ slot: s, ballot: NO_BALLOT, value: this.log[s - this.logStart]!, chosen: true });
    }
    for (const [slot, value] of this.chosenAhead) {
      if (slot >= fromSlot) votes.push({ slot, ballot: NO_BALLOT, value, chosen: true });
    }
    for (const [slot, vote] of this.accepted) {
      if (slot >= fromSlot && slot >= this.commitIndex && !this.chosenAhead.has(slot)) {
        votes.push({ slot, ballot: vote.ballot, value: vote.value, chosen: false });
      }
    }
    votes.sort((a, b) => a.slot - b.slot);
    return votes;
  }

  /** Phase 2b [PMS 2.2; Chand Fig. 1 phase2b]: accept unless a higher ballot was promised. */
  private onAccept(from: NodeId, msg: Extract<Message, { type: "accept" }>): void {
    this.noteRound(msg.ballot);
    if (!this.admits(msg.ballot)) {
      this.send(from, { type: "nack", ballot: msg.ballot, promised: this.promised });
      return;
    }
    // Accepting ballot b implies promising b; the accepted record carries b.
    this.promised = msg.ballot;
    for (let i = 0; i < msg.values.length; i++) {
      const slot = msg.fromSlot + i;
      // A chosen slot keeps its value; the proposer's value is the same one (Paxos safety).
      if (slot >= this.commitIndex && !this.chosenAhead.has(slot)) {
        this.accepted.set(slot, { ballot: msg.ballot, value: msg.values[i]! });
      }
    }
    this.outPersist.push({ type: "accepted", ballot: msg.ballot, fromSlot: msg.fromSlot, values: msg.values });
    this.send(from, { type: "accepted", ballot: msg.ballot, fromSlot: msg.fromSlot, count: msg.values.length });
    if (from !== this.id) this.followLeader(msg.ballot, msg.commitIndex);
  }

  // --------------------------------------------------------- proposer ----

  /**
   * Pre-vote (Raft thesis sec. 9.6): ask whether a majority would promise a
   * higher ballot before raising any. Nothing is persisted and no ballot
   * moves, so a node that cannot win disturbs no one.
   */
  private startPreVote(): void {
    this.electionElapsed = 0;
    this.electionTimeout = this.randomElectionTimeout();
    this.preVoteBallot = { round: Math.max(this.highestRoundSeen, this.promised.round) + 1, node: this.id };
    this.preVotes.clear();
    this.preVotes.add(this.id);
    if (isQuorum(this.voters, this.preVotes)) return this.startElection();
    this.broadcast({ type: "preVote", ballot: this.preVoteBallot }, false);
  }

  /** Grants a pre-vote when a prepare for that ballot would be promised now; changes no state. */
  private onPreVote(from: NodeId, msg: Extract<Message, { type: "preVote" }>): void {
    const granted = compareBallots(msg.ballot, this.promised) > 0 && !this.leaderRecentlyAlive();
    this.send(from, { type: "preVoteReply", ballot: msg.ballot, granted, promised: this.promised });
  }

  private onPreVoteReply(from: NodeId, msg: Extract<Message, { type: "preVoteReply" }>): void {
    this.noteRound(msg.promised); // the next attempt must outbid what the others promised
    if (this.role === "leader" || this.preVoteBallot === null || !ballotEquals(msg.ballot, this.preVoteBallot) || !msg.granted) return;
    this.preVotes.add(from);
    if (isQuorum(this.voters, this.preVotes)) this.startElection();
  }

  /** Phase 1a [PMS 2.2; Chand Fig. 1 phase1a]: one Prepare covers every slot from the first not known chosen. */
  private startElection(): void {
    this.preVoteBallot = null;
    this.stepDownRejectingClients(null);
    const round = Math.max(this.highestRoundSeen, this.promised.round) + 1;
    this.highestRoundSeen = round;
    this.role = "candidate";
    this.ownBallot = { round, node: this.id };
    this.prepareFromSlot = this.commitIndex;
    this.promises.clear();
    this.selfPrepared = false;
    this.prepareTargets.clear();
    this.electionElapsed = 0;
    this.electionTimeout = this.randomElectionTimeout();
    // Our own acceptor promises last, once the others would make a win with
    // it: a node that cannot win (cut off, or facing a live leader) then
    // raises no ballot anywhere, and cannot force a step-down later.
    this.askToPrepare(this.peers);
    this.prepareSelfOnceEnough();
  }

  /** Sends this candidate's Prepare to those of `ids` it has not asked yet. */
  private askToPrepare(ids: Iterable<NodeId>): void {
    for (const id of ids) {
      if (id === this.id || this.prepareTargets.has(id)) continue;
      this.prepareTargets.add(id);
      this.send(id, { type: "prepare", ballot: this.ownBallot!, fromSlot: this.prepareFromSlot });
    }
  }

  private prepareSelfOnceEnough(): void {
    if (this.selfPrepared || this.ownBallot === null || !this.electionWon(true)) return;
    this.selfPrepared = true;
    this.send(this.id, { type: "prepare", ballot: this.ownBallot, fromSlot: this.prepareFromSlot });
  }

  private onPromise(from: NodeId, msg: Extract<Message, { type: "promise" }>): void {
    if (this.role === "leader" && this.ownBallot !== null && ballotEquals(msg.ballot, this.ownBallot)) {
      // A promise after the election, asked for Coverage of a new membership. Its votes matter no more:
      // the slots above this leader's own change have none, and the rest were recovered from a quorum.
      this.promisedBy.add(from);
      return;
    }
    if (this.role !== "candidate" || this.ownBallot === null) return;
    if (!ballotEquals(msg.ballot, this.ownBallot) || msg.fromSlot !== this.prepareFromSlot) return; // stale
    this.promises.set(from, msg);
    // A membership among the votes governs the slots above it: ask its members too [Coverage].
    if (msg.votes.some((v) => v.value.kind === "membership")) for (const m of this.membershipsToCover()) this.askToPrepare(memberIds(m));
    if (this.electionWon(false)) this.becomeLeader();
    else this.prepareSelfOnceEnough();
  }

  /**
   * Coverage at election [VP; membership.ts]: the promises (with this
   * node's own, or counting it when `withSelf`) include a quorum of every
   * membership that governs a slot this candidate will recover or propose:
   * the one in force above its commit point, and each membership value
   * among the votes it recovers.
   */
  private electionWon(withSelf: boolean): boolean {
    const promisers = new Set(this.promises.keys());
    if (withSelf) promisers.add(this.id);
    for (const m of this.membershipsToCover()) if (!isQuorum(voterIds(m), promisers)) return false;
    return true;
  }

  /** The memberships a candidate's Phase 1 must cover, from the votes promised so far. */
  protected membershipsToCover(): Membership[] {
    const bySlot = new Map<number, { ballot: Ballot; value: Value; chosen: boolean }>();
    for (const promise of this.promises.values()) {
      for (const v of promise.votes) {
        const cur = bySlot.get(v.slot);
        if (cur === undefined || v.chosen || (!cur.chosen && compareBallots(v.ballot, cur.ballot) > 0)) bySlot.set(v.slot, v);
      }
    }
    return [this.applied, ...this.foldChanges([...bySlot].sort((a, b) => a[0] - b[0]).map(([slot, v]) => ({ slot, value: v.value }))).map((c) => c.membership)];
  }

  /**
   * The memberships the changes among `values` (in slot order, all above the
   * commit point) make, each applied to the one before, starting from the
   * membership in force: what every node will apply if these values are
   * chosen. A change that does not apply there is no change (applyMembership).
   */
  private foldChanges(values: readonly { slot: number; value: Value }[]): MembershipInFlight[] {
    const out: MembershipInFlight[] = [];
    let m = this.applied;
    for (const { slot, value } of values) {
      if (value.kind !== "membership") continue;
      const next = nextMembership(m, value.change, slot);
      if (!next.ok) continue;
      m = next.membership;
      out.push({ slot, membership: m });
    }
    return out;
  }

  /**
   * Phase 2a after a won Phase 1 [PMS 3; Chand Fig. 1 phase2a]: for every slot
   * at or above the prepare's start, re-propose the value accepted with the
   * highest ballot among the promises, or a no-op where no one accepted
   * anything; only then assign new slots to client commands.
   */
  private becomeLeader(): void {
    const ballot = this.ownBallot!;
    const best = new Map<number, AcceptedVote>();
    let top = this.prepareFromSlot - 1;
    for (const promise of this.promises.values()) {
      for (const vote of promise.votes) {
        if (vote.slot < this.prepareFromSlot) continue;
        top = Math.max(top, vote.slot);
        if (vote.chosen) {
          this.learnChosen(vote.slot, vote.value);
          continue;
        }
        const candidate = { ballot: vote.ballot, value: vote.value };
        if (this.outranks(candidate, best.get(vote.slot))) best.set(vote.slot, candidate);
      }
    }
    this.promisedBy.clear();
    for (const id of this.promises.keys()) this.promisedBy.add(id);
    this.promises.clear();
    this.prepareTargets.clear();
    this.role = "leader";
    this.leader = this.id;
    this.heartbeatElapsed = 0;
    this.ackedSeq.clear();
    this.lastHeardTick.clear();
    this.peerCommit.clear();
    this.advanceCommit();
    if (this.role !== "leader") return; // a chosen membership it just learned removed it (switchMembership)
    this.commitAnnounced = this.commitIndex;
    this.nextSlot = this.commitIndex;
    const recovered: Value[] = [];
    for (let slot = this.commitIndex; slot <= top; slot++) {
      const chosen = this.chosenAhead.get(slot);
      recovered.push(chosen ?? best.get(slot)?.value ?? NOOP);
    }
    // A recovered membership governs the slots above it [Effect]; its quorums were covered at election.
    // Votes above it mean it was chosen (docs/reconfiguration.md, point 2), so the slots above go out now too.
    this.recoveredChanges = [];
    this.ownChange = null;
    this.queuedChange = null;
    this.recoveredChanges = this.foldChanges(recovered.map((value, i) => ({ slot: this.commitIndex + i, value })));
    for (const m of [this.known, ...this.recoveredChanges.map((c) => c.membership)]) {
      for (const id of memberIds(m)) if (id !== this.id) this.lastHeardTick.set(id, this.now);
    }
    // One Accept per batch, and a batch never spans a membership value: it ends one.
    let batch: Value[] = [];
    for (const v of recovered) {
      batch.push(v);
      if (batch.length === this.cfg.maxBatch || v.kind === "membership") {
        this.sendBatch(ballot, batch);
        batch = [];
      }
    }
    if (batch.length > 0) this.sendBatch(ballot, batch);
    this.firstOwnSlot = this.nextSlot;
    // A recovered command is on its way like a proposed one: a request for it waits for
    // it (and is never told "not_applied" while that slot may still be chosen).
    for (const v of recovered) {
      if (v.kind !== "command") continue;
      const key = commandKey(v.command);
      const w = this.waiters.get(key);
      if (w === undefined) this.waiters.set(key, { requestIds: [], proposed: true, forward: null });
      else {
        w.forward = null;
        w.proposed = true;
      }
    }
    // Commands this node was forwarding (and not recovered) are now its own to propose.
    this.forwardQueue = [];
    for (const [key, w] of this.waiters) {
      if (w.forward === null) continue;
      this.pending.push({ key, command: w.forward.command });
      w.forward = null;
    }
    this.heartbeatDue = true; // announce the new leadership at once
  }

  /** Phase 2b reply counting [Chand Fig. 1 learn]: a batch is chosen once a quorum of its slots' voters accepted it in this ballot. */
  private onAccepted(from: NodeId, msg: Extract<Message, { type: "accepted" }>): void {
    if (this.role !== "leader" || !ballotEquals(msg.ballot, this.ownBallot!)) return;
    this.lastHeardTick.set(from, this.now);
    const batch = this.inflight.get(msg.fromSlot);
    if (batch === undefined || batch.values.length !== msg.count) return;
    batch.acks.add(from);
    if (!isQuorum(batch.voters, batch.acks)) return; // only the voters of these slots' membership count
    this.inflight.delete(msg.fromSlot);
    for (let i = 0; i < batch.values.length; i++) this.learnChosen(batch.fromSlot + i, batch.values[i]!);
    this.advanceCommit();
    this.completeReads();
  }

  /** A higher ballot exists [PMS 2.2 note: a proposer abandons a lower proposal]: step down. */
  private onNack(msg: Extract<Message, { type: "nack" }>): void {
    this.noteRound(msg.promised);
    if (this.ownBallot === null || !ballotEquals(msg.ballot, this.ownBallot)) return;
    if (compareBallots(msg.promised, this.ownBallot) > 0) {
      this.becomeFollower(null);
      this.electionElapsed = 0;
    }
  }

  /**
   * Queued client commands go out as one Accept per batch, within the
   * pipelining window; a queued membership change ends a batch of its own
   * and holds everything after it until it is chosen [Stall].
   */
  private flushProposals(): void {
    while ((this.pending.length > 0 || this.queuedChange !== null) && this.canSendBatch()) {
      // A queued command whose earlier copy got applied meanwhile was answered then: skip it.
      const batch = this.pending.splice(0, this.cfg.maxBatch - (this.queuedChange === null ? 0 : 1)).filter((p) => this.waiters.has(p.key));
      for (const p of batch) this.waiters.get(p.key)!.proposed = true;
      const values: Value[] = batch.map((p) => ({ kind: "command", command: p.command }));
      const change = this.queuedChange;
      if (change !== null) {
        this.queuedChange = null;
        const slot = this.nextSlot + values.length;
        const next = nextMembership(this.membershipFor(slot), change.change, slot);
        if (next.ok) {
          values.push({ kind: "membership", change: change.change });
          this.ownChange = { slot, membership: next.membership, requestId: change.requestId };
        } else {
          this.outResults.push({ kind: "changeRefused", requestId: change.requestId, refusal: next.refusal, message: next.message, leader: this.id });
        }
      }
      if (values.length > 0) this.sendBatch(this.ownBallot!, values);
    }
  }

  /** Whether a new batch may go out now: within the window, not above an unchosen change [Stall], with its quorum promised [Coverage]. */
  private canSendBatch(): boolean {
    return this.role === "leader" && this.inflight.size < this.cfg.maxInflight && !this.proposalsStalled() && this.covered(this.nextSlot);
  }

  /** Coverage: the nodes that promised this leader's ballot include a quorum of the membership of `slot`. */
  protected covered(slot: number): boolean {
    return isQuorum(voterIds(this.membershipFor(slot)), this.promisedBy);
  }

  /** Asks the members whose promise this leader lacks for it, once per resend interval, while Coverage is short. */
  private askForCoverage(): void {
    if (this.covered(this.nextSlot) || this.now - this.coverageAskedAt < this.cfg.resendTicks) return;
    this.coverageAskedAt = this.now;
    for (const id of memberIds(this.membershipFor(this.nextSlot))) {
      if (!this.promisedBy.has(id)) this.send(id, { type: "prepare", ballot: this.ownBallot!, fromSlot: this.commitIndex });
    }
  }

  private sendBatch(ballot: Ballot, values: Value[]): void {
    const fromSlot = this.nextSlot;
    this.nextSlot += values.length;
    const m = this.membershipFor(fromSlot);
    this.inflight.set(fromSlot, { fromSlot, values, acks: new Set(), voters: voterIds(m), members: [...memberIds(m)], sentAtTick: this.now });
    // Every member of that membership votes or learns; the members of the newest known one learn too.
    const msg: Message = { type: "accept", ballot, fromSlot, values, commitIndex: this.commitIndex };
    for (const id of new Set([this.id, ...memberIds(m), ...this.peers])) this.send(id, msg);
    this.commitAnnounced = this.commitIndex;
  }

  /**
   * Learn [Chand Fig. 1 learn], made prompt: when the commit point moved and
   * no Accept of this Ready carried it, the followers get a Commit at once,
   * so they apply (and answer the clients whose commands they forwarded)
   * without waiting for the next Accept or heartbeat.
   */
  private announceCommit(): void {
    if (this.role !== "leader" || this.commitIndex <= this.commitAnnounced) return;
    this.commitAnnounced = this.commitIndex;
    this.broadcast({ type: "commit", ballot: this.ownBallot!, commitIndex: this.commitIndex }, false);
  }

  /** A follower's clients' commands [cf. etcd MsgProp]: queued like the leader's own, answered by nobody here. */
  private onPropose(from: NodeId, msg: Extract<Message, { type: "propose" }>): void {
    if (this.role !== "leader") return; // the follower forwards again once it learns who leads
    const stale: Command[] = [];
    const overloaded: Command[] = [];
    for (const command of msg.commands) {
      const done = this.list.lookup(command);
      if (done === "stale") stale.push(command);
      if (done !== undefined) continue; // applied: the follower answers when it applies that slot too
      const key = commandKey(command);
      if (this.waiters.has(key)) continue; // already on its way
      if (this.pending.length >= this.cfg.maxPending) {
        overloaded.push(command);
        continue;
      }
      this.pending.push({ key, command });
      this.waiters.set(key, { requestIds: [], proposed: false, forward: null });
    }
    if (stale.length > 0) this.send(from, { type: "proposeRefused", commands: stale, reason: "stale", seq: msg.seq });
    if (overloaded.length > 0) this.send(from, { type: "proposeRefused", commands: overloaded, reason: "overloaded", seq: msg.seq });
  }

  /**
   * The leader refused forwarded commands. A stale command is never applied,
   * whichever copy was refused. A full queue refuses one copy: it fails the
   * requests only if it is their latest copy ("not_applied" if it was their
   * only one); a refusal of an older copy (sent again since, or sent for a
   * request that gave up) leaves the latest one to the leader.
   */
  private onProposeRefused(msg: Extract<Message, { type: "proposeRefused" }>): void {
    for (const command of msg.commands) {
      const key = commandKey(command);
      const w = this.waiters.get(key);
      if (w === undefined || w.forward === null) continue;
      if (msg.reason === "overloaded" && w.forward.lastSeq !== msg.seq) continue;
      const outcome = msg.reason === "overloaded" && w.forward.sends === 1 ? "not_applied" : "unknown";
      this.settle(key, w, (requestId) => ({ kind: "rejected", requestId, reason: msg.reason, outcome, leader: this.leader }));
    }
  }

  /** Sends the queued forwards to the leader; with no leader known they wait for forwardAgain. */
  private flushForwards(): void {
    if (this.forwardQueue.length === 0) return;
    const queued = this.forwardQueue;
    this.forwardQueue = [];
    const leader = this.leader;
    if (this.role !== "follower" || leader === null || leader === this.id) return;
    const waiting: Waiter[] = [];
    const sent = new Set<Waiter>();
    for (const command of queued) {
      const w = this.waiters.get(commandKey(command));
      if (w === undefined || w.forward === null || sent.has(w)) continue; // answered, given up, or queued twice
      sent.add(w);
      waiting.push(w);
    }
    for (let i = 0; i < waiting.length; i += this.cfg.maxBatch) {
      const seq = ++this.proposeSeq;
      const chunk = waiting.slice(i, i + this.cfg.maxBatch);
      for (const w of chunk) {
        const f = w.forward!;
        f.sentAtTick = this.now;
        f.sends++;
        f.lastSeq = seq;
        w.proposed = true;
      }
      this.send(leader, { type: "propose", commands: chunk.map((w) => w.forward!.command), seq });
    }
  }

  /**
   * Forwards again the commands still waiting that `due` selects: after a
   * leader change (the old one may never have got them) or a silence (a
   * Propose can be lost). Repeats are harmless: leader and list deduplicate.
   */
  private forwardAgain(due: (f: NonNullable<Waiter["forward"]>) => boolean): void {
    for (const w of this.waiters.values()) if (w.forward !== null && due(w.forward)) this.forwardQueue.push(w.forward.command);
  }

  /** Messages can be lost: an Accept still short of a majority goes again to the silent nodes (this one too, if its vote is missing). */
  private resendStaleAccepts(): void {
    for (const batch of this.inflight.values()) {
      if (this.now - batch.sentAtTick < this.cfg.resendTicks) continue;
      batch.sentAtTick = this.now;
      const msg: Message = {
        type: "accept",
        ballot: this.ownBallot!,
        fromSlot: batch.fromSlot,
        values: batch.values,
        commitIndex: this.commitIndex,
      };
      for (const node of batch.members) if (!batch.acks.has(node)) this.send(node, msg);
    }
  }

  /** A leader that has not heard from a quorum for an election timeout steps down, so clients stop waiting on it. */
  private checkQuorum(): void {
    if (this.now % this.cfg.electionTicksMax !== 0) return;
    if (!this.heardFromQuorum(this.cfg.electionTicksMax)) this.becomeFollower(null);
  }

  /** Whether this leader (counted if a voter) heard from a quorum of the voters within `ticks`. */
  private heardFromQuorum(ticks: number): boolean {
    const heard = [this.id];
    for (const p of this.peers) if (this.now - (this.lastHeardTick.get(p) ?? -Infinity) < ticks) heard.push(p);
    return isQuorum(this.voters, heard);
  }

  /** Whether a leader is alive: as leader, a quorum was heard lately; as follower, the leader was. */
  private leaderRecentlyAlive(): boolean {
    if (this.role === "leader") return this.heardFromQuorum(this.cfg.electionTicksMin);
    return this.leader !== null && this.now - this.lastLeaderContact < this.cfg.electionTicksMin;
  }

  // ------------------------------------------------- heartbeats, reads ----

  private broadcastHeartbeat(): void {
    this.heartbeatDue = false;
    if (this.role !== "leader") return;
    this.heartbeatElapsed = 0;
    this.heartbeatSeq++;
    this.broadcast({ type: "heartbeat", ballot: this.ownBallot!, commitIndex: this.commitIndex, seq: this.heartbeatSeq }, false);
    this.commitAnnounced = this.commitIndex;
  }

  private onHeartbeat(from: NodeId, msg: Extract<Message, { type: "heartbeat" }>): void {
    if (!this.onCommit(from, msg)) return;
    this.send(from, { type: "heartbeatAck", ballot: msg.ballot, seq: msg.seq, commitIndex: this.commitIndex });
  }

  /** The leader's commit point (a Commit, or a heartbeat's); false when its ballot was refused. */
  private onCommit(from: NodeId, msg: { readonly ballot: Ballot; readonly commitIndex: number }): boolean {
    this.noteRound(msg.ballot);
    if (!this.admits(msg.ballot)) {
      this.send(from, { type: "nack", ballot: msg.ballot, promised: this.promised });
      return false;
    }
    this.followLeader(msg.ballot, msg.commitIndex);
    return true;
  }

  private onHeartbeatAck(from: NodeId, msg: Extract<Message, { type: "heartbeatAck" }>): void {
    if (this.role !== "leader" || !ballotEquals(msg.ballot, this.ownBallot!)) return;
    this.lastHeardTick.set(from, this.now);
    this.ackedSeq.set(from, Math.max(this.ackedSeq.get(from) ?? 0, msg.seq));
    this.peerCommit.set(from, Math.max(this.peerCommit.get(from) ?? 0, msg.commitIndex));
    this.completeReads();
  }

  private completeReads(): void {
    if (this.pendingReads.length === 0) return;
    const remaining: PendingRead[] = [];
    const governing = this.governingMemberships();
    for (const r of this.pendingReads) {
      const confirmed = [this.id];
      for (const [p, seq] of this.ackedSeq) if (seq >= r.seq) confirmed.push(p);
      // Confirmed by a quorum of every membership that may govern the slots above the commit point.
      if (governing.every((m) => isQuorum(voterIds(m), confirmed)) && this.commitIndex >= r.readIndex) {
        this.outResults.push({ kind: "read", requestId: r.requestId, length: this.list.length });
      } else {
        remaining.push(r);
      }
    }
    this.pendingReads = remaining;
  }

  // --------------------------------------------------------- follower ----

  /** Accepts `ballot` as the current leadership and learns its commit point. */
  private followLeader(ballot: Ballot, leaderCommit: number): void {
    if (this.ownBallot === null || !ballotEquals(ballot, this.ownBallot)) {
      if (this.role !== "follower" || this.leader !== ballot.node) this.becomeFollower(ballot.node);
    }
    this.electionElapsed = 0;
    this.lastLeaderContact = this.now;
    this.preVoteBallot = null; // a leader is alive: no election
    this.leaderCommitIndex = Math.max(this.leaderCommitIndex, leaderCommit);
    // Learn [Chand Fig. 1 learn]: below the leader's commit point every slot is
    // chosen, and what we accepted in the leader's own ballot is what it proposed.
    for (let slot = this.commitIndex; slot < leaderCommit; slot++) {
      if (this.chosenAhead.has(slot)) continue;
      const vote = this.accepted.get(slot);
      if (vote === undefined || !ballotEquals(vote.ballot, ballot)) break;
      this.learnChosen(slot, vote.value);
    }
    this.advanceCommit();
    this.requestCatchupIfBehind();
  }

  private requestCatchupIfBehind(): void {
    if (this.role !== "follower" || this.leader === null || this.leader === this.id) return;
    if (this.commitIndex >= this.leaderCommitIndex || this.catchupSentAtTick !== null) return;
    this.catchupSentAtTick = this.now;
    this.send(this.leader, { type: "catchupRequest", fromSlot: this.commitIndex });
  }

  private onCatchupRequest(from: NodeId, msg: Extract<Message, { type: "catchupRequest" }>): void {
    if (msg.fromSlot < this.logStart) {
      // Those entries were compacted away: send the state instead.
      this.send(from, { type: "installSnapshot", snapshot: this.snapshotNow() });
      return;
    }
    const end = Math.min(this.commitIndex, msg.fromSlot + this.cfg.catchupBatch);
    if (msg.fromSlot >= end) return;
    this.send(from, {
      type: "catchupReply",
      fromSlot: msg.fromSlot,
      values: this.log.slice(msg.fromSlot - this.logStart, end - this.logStart),
      commitIndex: this.commitIndex,
    });
  }

  /** The last chosen values (at most a catch-up batch), or the snapshot when the log holds none. */
  private sendChosenTail(to: NodeId): void {
    const fromSlot = Math.max(this.logStart, this.commitIndex - this.cfg.catchupBatch);
    if (fromSlot >= this.commitIndex) {
      if (this.commitIndex > 0) this.send(to, { type: "installSnapshot", snapshot: this.snapshotNow() });
      return;
    }
    this.send(to, { type: "catchupReply", fromSlot, values: this.log.slice(fromSlot - this.logStart), commitIndex: this.commitIndex });
  }

  /** A lagging node takes a snapshot beyond its commit point; a leader never does (see onCatchupReply). */
  private onInstallSnapshot(msg: Extract<Message, { type: "installSnapshot" }>): void {
    if (this.role === "leader" || msg.snapshot.upTo <= this.commitIndex) return;
    this.installSnapshot(msg.snapshot);
    this.answerFromSnapshot();
    this.outPersist.push({ type: "snapshot", snapshot: msg.snapshot, retained: this.retainedRecords() });
    this.advanceCommit();
    this.catchupSentAtTick = null;
    this.requestCatchupIfBehind();
  }

  /** Forwarded commands applied inside an installed snapshot were never applied here one by one: answer them now. */
  private answerFromSnapshot(): void {
    for (const [key, w] of this.waiters) {
      if (w.forward === null) continue;
      const done = this.list.lookup(w.forward.command);
      if (done === undefined) continue;
      this.settle(key, w, (requestId) =>
        done === "stale"
          ? { kind: "rejected", requestId, reason: "stale", outcome: "unknown", leader: this.leader }
          : { kind: "appended", requestId, index: done, duplicate: false },
      );
    }
  }

  private onCatchupReply(msg: Extract<Message, { type: "catchupReply" }>): void {
    // A leader's log below its commit point must hold only what it chose in
    // its own ballot (or learned before proposing): followers learn from it by
    // matching their votes in that ballot. A late reply from a node that
    // follows a newer leader could hold another value for a slot this leader
    // proposed, so a leader never takes one (found by review: two values
    // applied for one slot).
    if (this.role === "leader") return;
    for (let i = 0; i < msg.values.length; i++) this.learnChosen(msg.fromSlot + i, msg.values[i]!);
    this.advanceCommit();
    this.leaderCommitIndex = Math.max(this.leaderCommitIndex, msg.commitIndex);
    this.catchupSentAtTick = null;
    this.requestCatchupIfBehind();
  }

  // ---------------------------------------------------------- learner ----

  private learnChosen(slot: number, value: Value): void {
    if (slot < this.commitIndex) return;
    this.chosenAhead.set(slot, value);
  }

  /** Moves the contiguous chosen prefix into the log and applies it in slot order. */
  private advanceCommit(): void {
    const from = this.commitIndex;
    for (;;) {
      const next = this.nextToApply();
      if (next === undefined) break;
      this.chosenAhead.delete(next.slot);
      this.accepted.delete(next.slot);
      this.log.push(next.value);
      this.applyChosen(this.commitIndex - 1, next.value);
    }
    if (this.commitIndex > from) {
      this.outPersist.push({ type: "chosen", fromSlot: from, values: this.log.slice(from - this.logStart) });
      if (this.log.length >= (this.cfg.snapshotEvery ?? 10_000)) this.compact();
    }
  }

  // ------------------------------------------------------- compaction ----

  /**
   * Folds the applied log into a snapshot: memory and disk keep only the
   * list (and exactly-once tables) plus what lies above the commit point.
   */
  private compact(): void {
    const snapshot = this.snapshotNow();
    this.log = [];
    this.logStart = snapshot.upTo;
    this.outPersist.push({ type: "snapshot", snapshot, retained: this.retainedRecords() });
  }

  private snapshotNow(): Snapshot {
    return { upTo: this.commitIndex, state: this.list.state(), membership: this.applied };
  }

  private installSnapshot(snapshot: Snapshot): void {
    checkMembership(snapshot.membership); // pair assertion: as checked when it was made
    this.list.restore(snapshot.state);
    this.applied = snapshot.membership;
    if (snapshot.membership.slot > this.known.slot) this.switchMembership(snapshot.membership);
    this.log = [];
    this.logStart = snapshot.upTo;
    for (const slot of [...this.chosenAhead.keys()]) if (slot < snapshot.upTo) this.chosenAhead.delete(slot);
    for (const slot of [...this.accepted.keys()]) if (slot < snapshot.upTo) this.accepted.delete(slot);
  }

  /** Everything durable that a snapshot does not cover: the promise, and votes and chosen values above it. */
  private retainedRecords(): PersistRecord[] {
    const records: PersistRecord[] = [];
    if (this.promised.round > 0) records.push({ type: "promised", ballot: this.promised });
    for (const [slot, vote] of [...this.accepted].sort((a, b) => a[0] - b[0])) {
      records.push({ type: "accepted", ballot: vote.ballot, fromSlot: slot, values: [vote.value] });
    }
    for (const [slot, value] of [...this.chosenAhead].sort((a, b) => a[0] - b[0])) {
      records.push({ type: "chosen", fromSlot: slot, values: [value] });
    }
    return records;
  }

  private applyChosen(slot: number, value: Value): void {
    this.outApplied.push({ slot, value });
    if (value.kind === "membership") return this.applyMembership(slot, value);
    if (value.kind !== "command") return;
    const applied = this.list.apply(value.command, slot);
    const key = commandKey(value.command);
    const waiting = this.waiters.get(key);
    if (waiting === undefined) return;
    this.settle(key, waiting, (requestId) =>
      applied.kind === "stale"
        ? { kind: "rejected", requestId, reason: "stale", outcome: "unknown", leader: this.leader }
        : { kind: "appended", requestId, index: applied.index, duplicate: applied.duplicate },
    );
  }

  // ------------------------------------------------------- membership ----

  /**
   * Applies a chosen change [Effect: the membership it makes governs the
   * slots above] to the membership in force at its slot, as every node does
   * from replicated state alone. A change that no longer applies there is
   * no change: a change proposed against an older membership can still be
   * chosen later (a leader that died with it in a minority of acceptors,
   * and a later leader recovering it), as PMMC's replicas execute a
   * reconfiguration against their state at that point.
   */
  private applyMembership(slot: number, value: Extract<Value, { kind: "membership" }>): void {
    const derived = nextMembership(this.applied, value.change, slot);
    this.recoveredChanges = this.recoveredChanges.filter((c) => c.slot !== slot);
    const own = this.ownChange !== null && this.ownChange.slot === slot ? this.ownChange : null;
    if (own !== null) this.ownChange = null;
    if (!derived.ok) {
      if (own?.requestId != null) this.outResults.push({ kind: "changeRefused", requestId: own.requestId, refusal: derived.refusal, message: derived.message, leader: this.leader });
      return;
    }
    this.applied = derived.membership;
    if (own?.requestId != null) this.outResults.push({ kind: "changed", requestId: own.requestId, membership: derived.membership });
    if (derived.membership.slot > this.known.slot) this.switchMembership(derived.membership);
  }

  /** Sets the newest known membership and what follows from it directly: voters, peers, removed. */
  private setKnown(m: Membership): void {
    this.known = m;
    this.voters = voterIds(m);
    this.peers = m.members.map((x) => x.id).filter((id) => id !== this.id);
    this.removed = findMember(m, this.id) === undefined;
    this.membershipChanged = true;
  }

  /**
   * The one writer of a newer membership (etcd's switchToConfig): from an
   * applied value or a snapshot. A leader that is no longer a voter steps
   * down [a removed leader steps down once its removal is chosen]; a node
   * that is no longer a member stops taking part.
   */
  private switchMembership(m: Membership): void {
    const wasRemoved = this.removed;
    const oldPeers = [...this.peers];
    this.setKnown(m);
    if (this.role === "leader") {
      // The nodes it stops talking to hold the change (they voted on it): one last Commit tells them it is
      // chosen, so a removed node learns it is removed, and, when the leader itself steps down, the others
      // learn the commit point without waiting for the next leader.
      const stepsDown = this.removed || !this.voters.has(this.id);
      const commit: Message = { type: "commit", ballot: this.ownBallot!, commitIndex: this.commitIndex };
      for (const id of oldPeers) if (stepsDown || !this.peers.includes(id)) this.send(id, commit);
      if (stepsDown) this.becomeFollower(null);
    }
    if (this.removed && !wasRemoved) {
      this.leader = null;
      // Its clients' commands may still be chosen by the members (unknown); the rest never will be.
      for (const [key, w] of this.waiters) {
        const outcome = w.proposed ? "unknown" : "not_applied";
        this.settle(key, w, (requestId) => ({ kind: "rejected", requestId, reason: "removed", outcome, leader: null }));
      }
      this.forwardQueue = [];
      return;
    }
    if (this.role === "leader") {
      // A new member counts as heard now, or check-quorum could depose this leader at once (etcd's RecentActive).
      for (const id of this.peers) if (!this.lastHeardTick.has(id)) this.lastHeardTick.set(id, this.now);
      for (const id of [...this.lastHeardTick.keys()]) if (!this.peers.includes(id)) this.lastHeardTick.delete(id);
      for (const id of [...this.ackedSeq.keys()]) if (!this.peers.includes(id)) this.ackedSeq.delete(id);
    }
  }

  /** A voter that knows the membership of the slots it would recover may start an election. */
  private mayCampaign(): boolean {
    return !this.removed && this.voters.has(this.id) && this.known.slot < this.commitIndex;
  }

  /** The memberships that may govern slots above the commit point: the one in force, and any not yet applied. */
  private governingMemberships(): Membership[] {
    const out = [this.known, ...this.recoveredChanges.map((c) => c.membership)];
    if (this.ownChange !== null) out.push(this.ownChange.membership);
    return out;
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

  private becomeFollower(leader: NodeId | null): void {
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
  private stepDownRejectingClients(newLeader: NodeId | null): void {
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

  private noteRound(b: Ballot): void {
    this.highestRoundSeen = Math.max(this.highestRoundSeen, b.round);
  }

  private randomElectionTimeout(): number {
    return this.rng.intBetween(this.cfg.electionTicksMin, this.cfg.electionTicksMax);
  }

  // ----------------------------------------------------------- output ----

  private send(to: NodeId, msg: Message): void {
    this.outMessages.push({ from: this.id, to, msg });
  }

  private broadcast(msg: Message, includingSelf: boolean): void {
    if (includingSelf) this.send(this.id, msg);
    for (const p of this.peers) this.send(p, msg);
  }

  // ---------------------------------------------------------- restore ----

  /** Rebuilds durable state from the latest snapshot and the records written after it, in order. */
  private restore(snapshot: Snapshot | null, records: readonly PersistRecord[]): void {
    if (snapshot !== null) this.installSnapshot(snapshot);
    for (const r of records) {
      switch (r.type) {
        case "promised":
          this.promised = maxBallot(this.promised, r.ballot);
          break;
        case "accepted":
          this.promised = maxBallot(this.promised, r.ballot);
          for (let i = 0; i < r.values.length; i++) {
            const slot = r.fromSlot + i;
            if (slot >= this.commitIndex) this.accepted.set(slot, { ballot: r.ballot, value: r.values[i]! });
          }
          break;
        case "chosen":
          for (let i = 0; i < r.values.length; i++) this.learnChosen(r.fromSlot + i, r.values[i]!);
          this.advanceCommit();
          break;
        case "snapshot":
          // The runtime stores snapshots apart from the log; one in a replayed list (the simulator's disk) is taken in order.
          this.installSnapshot(r.snapshot);
          break;
      }
    }
    this.highestRoundSeen = this.promised.round;
    // Replaying is not news: nothing to persist again, nobody to answer.
    this.outPersist = [];
    this.outApplied = [];
    this.outResults = [];
  }
}
