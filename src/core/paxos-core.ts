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
// References:
//   [PMS]   Lamport, "Paxos Made Simple", 2001.
//   [Chand] Chand, Liu, Stoller, "Formal Verification of Multi-Paxos for
//           Distributed Consensus", 2016 (Fig. 1: phase1a/1b/2a/2b, learn).

import { ballotEquals, compareBallots, maxBallot, NO_BALLOT } from "./ballot.js";
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
  sentAtTick: number;
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

export class PaxosCore {
  readonly id: NodeId;
  readonly list: ReplicatedList;
  private readonly cfg: CoreConfig;
  private readonly peers: readonly NodeId[];
  private readonly majority: number;
  private readonly rng: Rng;
  private now = 0; // in ticks

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
    if (!cfg.nodes.includes(cfg.id)) throw new Error(`node ${cfg.id} is not in the cluster ${cfg.nodes.join(",")}`);
    this.cfg = cfg;
    this.id = cfg.id;
    this.peers = cfg.nodes.filter((n) => n !== cfg.id);
    this.majority = Math.floor(cfg.nodes.length / 2) + 1;
    this.rng = new Rng(cfg.seed);
    this.list = new ReplicatedList(cfg.maxSessions, cfg.dedupWindowSlots ?? Math.max(10_000, 8 * cfg.maxInflight * cfg.maxBatch));
    this.electionTimeout = this.randomElectionTimeout();
    this.restore(snapshot, records);
  }

  // ------------------------------------------------------------ inputs ----

  /** Advances logical time by one tick. */
  tick(): void {
    this.now++;
    if (this.role === "leader") {
      this.heartbeatElapsed++;
      if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) this.heartbeatDue = true;
      this.resendStaleAccepts();
      this.checkQuorum();
    } else {
      this.electionElapsed++;
      if (this.electionElapsed >= this.electionTimeout) this.startPreVote();
      if (this.now % this.cfg.resendTicks === 0) this.forwardAgain((f) => this.now - f.sentAtTick >= this.cfg.resendTicks);
      if (this.catchupSentAtTick !== null && this.now - this.catchupSentAtTick >= this.cfg.resendTicks) {
        this.catchupSentAtTick = null;
        this.requestCatchupIfBehind();
      }
    }
  }

  /** Handles one message from another node (or from this node to itself). */
  step(from: NodeId, msg: Message): void {
    if (!this.cfg.nodes.includes(from)) return; // not a member: ignore
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
    return this.role === "leader" || (this.role === "follower" && this.leader !== null && this.leader !== this.id);
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
    if (this.role !== "leader") {
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
    };
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
      this.heartbeatDue ||
      (this.pending.length > 0 && this.canSendBatch()) ||
      this.forwardQueue.length > 0 ||
      (this.role === "leader" && this.commitIndex > this.commitAnnounced)
    );
  }

  status(): CoreStatus {
    return {
      id: this.id,
      role: this.role,
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
    if (this.preVotes.size >= this.majority) return this.startElection();
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
    if (this.preVotes.size >= this.majority) this.startElection();
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
    this.electionElapsed = 0;
    this.electionTimeout = this.randomElectionTimeout();
    // Our own acceptor promises last, once the others would make a majority
    // with it: a node that cannot win (cut off, or facing a live leader)
    // then raises no ballot anywhere, and cannot force a step-down later.
    this.broadcast({ type: "prepare", ballot: this.ownBallot, fromSlot: this.prepareFromSlot }, false);
    this.prepareSelfOnceEnough();
  }

  private prepareSelfOnceEnough(): void {
    if (this.selfPrepared || this.ownBallot === null || this.promises.size < this.majority - 1) return;
    this.selfPrepared = true;
    this.send(this.id, { type: "prepare", ballot: this.ownBallot, fromSlot: this.prepareFromSlot });
  }

  private onPromise(from: NodeId, msg: Extract<Message, { type: "promise" }>): void {
    if (this.role !== "candidate" || this.ownBallot === null) return;
    if (!ballotEquals(msg.ballot, this.ownBallot) || msg.fromSlot !== this.prepareFromSlot) return; // stale
    this.promises.set(from, msg);
    if (this.promises.size >= this.majority) this.becomeLeader();
    else this.prepareSelfOnceEnough();
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
    this.promises.clear();
    this.role = "leader";
    this.leader = this.id;
    this.heartbeatElapsed = 0;
    this.ackedSeq.clear();
    this.lastHeardTick.clear();
    for (const p of this.peers) this.lastHeardTick.set(p, this.now);
    this.advanceCommit();
    this.commitAnnounced = this.commitIndex;
    this.nextSlot = this.commitIndex;
    const recovered: Value[] = [];
    for (let slot = this.commitIndex; slot <= top; slot++) {
      const chosen = this.chosenAhead.get(slot);
      recovered.push(chosen ?? best.get(slot)?.value ?? NOOP);
    }
    for (let i = 0; i < recovered.length; i += this.cfg.maxBatch) {
      this.sendBatch(ballot, recovered.slice(i, i + this.cfg.maxBatch));
    }
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

  /** Phase 2b reply counting [Chand Fig. 1 learn]: a batch is chosen once a majority accepted it in this ballot. */
  private onAccepted(from: NodeId, msg: Extract<Message, { type: "accepted" }>): void {
    if (this.role !== "leader" || !ballotEquals(msg.ballot, this.ownBallot!)) return;
    this.lastHeardTick.set(from, this.now);
    const batch = this.inflight.get(msg.fromSlot);
    if (batch === undefined || batch.values.length !== msg.count) return;
    batch.acks.add(from);
    if (batch.acks.size < this.majority) return;
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

  /** Queued client commands go out as one Accept per batch, within the pipelining window. */
  private flushProposals(): void {
    while (this.pending.length > 0 && this.canSendBatch()) {
      // A queued command whose earlier copy got applied meanwhile was answered then: skip it.
      const batch = this.pending.splice(0, this.cfg.maxBatch).filter((p) => this.waiters.has(p.key));
      if (batch.length === 0) continue;
      for (const p of batch) this.waiters.get(p.key)!.proposed = true;
      this.sendBatch(
        this.ownBallot!,
        batch.map((p) => ({ kind: "command", command: p.command })),
      );
    }
  }

  private canSendBatch(): boolean {
    return this.role === "leader" && this.inflight.size < this.cfg.maxInflight;
  }

  private sendBatch(ballot: Ballot, values: Value[]): void {
    const fromSlot = this.nextSlot;
    this.nextSlot += values.length;
    this.inflight.set(fromSlot, { fromSlot, values, acks: new Set(), sentAtTick: this.now });
    this.broadcast({ type: "accept", ballot, fromSlot, values, commitIndex: this.commitIndex }, true);
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
      for (const node of this.cfg.nodes) if (!batch.acks.has(node)) this.send(node, msg);
    }
  }

  /** A leader that has not heard from a majority for an election timeout steps down, so clients stop waiting on it. */
  private checkQuorum(): void {
    if (this.now % this.cfg.electionTicksMax !== 0) return;
    if (this.peersHeardWithin(this.cfg.electionTicksMax) + 1 < this.majority) this.becomeFollower(null);
  }

  private peersHeardWithin(ticks: number): number {
    let heard = 0;
    for (const p of this.peers) if (this.now - (this.lastHeardTick.get(p) ?? -Infinity) < ticks) heard++;
    return heard;
  }

  /** Whether a leader is alive: as leader, a majority was heard lately; as follower, the leader was. */
  private leaderRecentlyAlive(): boolean {
    if (this.role === "leader") return this.peersHeardWithin(this.cfg.electionTicksMin) + 1 >= this.majority;
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
    this.completeReads();
  }

  private completeReads(): void {
    if (this.pendingReads.length === 0) return;
    const remaining: PendingRead[] = [];
    for (const r of this.pendingReads) {
      let confirmed = 1; // this leader itself
      for (const p of this.peers) if ((this.ackedSeq.get(p) ?? 0) >= r.seq) confirmed++;
      if (confirmed >= this.majority && this.commitIndex >= r.readIndex) {
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
    return { upTo: this.commitIndex, state: this.list.state() };
  }

  private installSnapshot(snapshot: Snapshot): void {
    this.list.restore(snapshot.state);
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
