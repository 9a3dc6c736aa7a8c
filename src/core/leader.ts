// The proposer and leader: pre-vote and elections (Phase 1a), recovery of
// the slots above the commit point, batching and pipelining (Phase 2a),
// forwarded proposals, heartbeats with the commit point, and read-index reads.

import { ballotEquals, compareBallots } from "./ballot.js";
import { memberIds, nextMembership, voterIds, type Membership } from "./membership.js";
import { isQuorum } from "./quorum.js";
import { NOOP, type AcceptedVote, type MembershipInFlight, type PendingCommand, type PendingRead, type Waiter } from "./core-state.js";
import { commandKey } from "./replicated-list.js";
import type { Ballot, Command, Message, NodeId, Value } from "./types.js";
import { LearnerRole } from "./learner.js";

/** Whom a fresh batch asks to vote: every acceptor, or a quorum with these nodes first (thrifty). */
type BatchAsks = "everyone" | { readonly thriftyFirst: readonly NodeId[] };

/** Campaigns, leads, and serves reads. */
export abstract class LeaderRole extends LearnerRole {
  // --------------------------------------------------------- proposer ----

  /**
   * Pre-vote (Raft thesis sec. 9.6): ask whether a majority would promise a
   * higher ballot before raising any. Nothing is persisted and no ballot
   * moves, so a node that cannot win disturbs no one.
   */
  protected startPreVote(): void {
    this.electionElapsed = 0;
    this.electionTimeout = this.randomElectionTimeout();
    this.preVoteBallot = { round: Math.max(this.highestRoundSeen, this.promised.round) + 1, node: this.id };
    this.preVotes.clear();
    this.preVotes.add(this.id);
    if (isQuorum(this.voters, this.preVotes)) return this.startElection();
    this.broadcast({ type: "preVote", ballot: this.preVoteBallot, commitIndex: this.commitIndex }, false);
  }

  /** Grants a pre-vote when a prepare for that ballot would be promised now; changes no state. */
  protected onPreVote(from: NodeId, msg: Extract<Message, { type: "preVote" }>): void {
    const granted = compareBallots(msg.ballot, this.promised) > 0 && !this.leaderRecentlyAlive();
    this.send(from, { type: "preVoteReply", ballot: msg.ballot, granted, promised: this.promised });
  }

  protected onPreVoteReply(from: NodeId, msg: Extract<Message, { type: "preVoteReply" }>): void {
    this.noteRound(msg.promised); // the next attempt must outbid what the others promised
    if (this.role === "leader" || this.preVoteBallot === null || !ballotEquals(msg.ballot, this.preVoteBallot) || !msg.granted) return;
    this.preVotes.add(from);
    if (isQuorum(this.voters, this.preVotes)) this.startElection();
  }

  /** Phase 1a [PMS 2.2; Chand Fig. 1 phase1a]: one Prepare covers every slot from the first not known chosen. */
  protected startElection(): void {
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
  protected askToPrepare(ids: Iterable<NodeId>): void {
    for (const id of ids) {
      if (id === this.id || this.prepareTargets.has(id)) continue;
      this.prepareTargets.add(id);
      this.send(id, { type: "prepare", ballot: this.ownBallot!, fromSlot: this.prepareFromSlot });
    }
  }

  protected prepareSelfOnceEnough(): void {
    if (this.selfPrepared || this.ownBallot === null || !this.electionWon(true)) return;
    this.selfPrepared = true;
    this.send(this.id, { type: "prepare", ballot: this.ownBallot, fromSlot: this.prepareFromSlot });
  }

  protected onPromise(from: NodeId, msg: Extract<Message, { type: "promise" }>): void {
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
  protected electionWon(withSelf: boolean): boolean {
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
        // Below the commit point every slot is applied, its change in this.applied already: the commit
        // point can pass the prepare's start during an election (a snapshot installed meanwhile), and a
        // change folded in twice is another one ("add" twice makes a member that does not exist).
        if (v.slot < this.commitIndex) continue;
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
  protected foldChanges(values: readonly { slot: number; value: Value }[]): MembershipInFlight[] {
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
  protected becomeLeader(): void {
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
    this.fastVoters = [];
    this.lastBatchSmall = false;
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
        this.sendBatch(ballot, batch, "everyone");
        batch = [];
      }
    }
    if (batch.length > 0) this.sendBatch(ballot, batch, "everyone");
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
      this.pending.push({ key, command: w.forward.command, via: this.id });
      w.forward = null;
    }
    this.heartbeatDue = true; // announce the new leadership at once
  }

  /** Phase 2b reply counting [Chand Fig. 1 learn]: a batch is chosen once a quorum of its slots' voters accepted it in this ballot. */
  protected onAccepted(from: NodeId, msg: Extract<Message, { type: "accepted" }>): void {
    if (this.role !== "leader") return this.onPeerAccepted(from, msg);
    if (!ballotEquals(msg.ballot, this.ownBallot!)) return;
    this.lastHeardTick.set(from, this.now);
    const batch = this.inflight.get(msg.fromSlot);
    if (batch === undefined || batch.values.length !== msg.count) return;
    batch.acks.add(from);
    if (!isQuorum(batch.voters, batch.acks)) return; // only the voters of these slots' membership count
    this.inflight.delete(msg.fromSlot);
    this.fastVoters = [...batch.acks];
    for (let i = 0; i < batch.values.length; i++) this.learnChosen(batch.fromSlot + i, batch.values[i]!);
    this.advanceCommit();
    this.completeReads();
  }

  /** A higher ballot exists [PMS 2.2 note: a proposer abandons a lower proposal]: step down. */
  protected onNack(msg: Extract<Message, { type: "nack" }>): void {
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
  protected flushProposals(): void {
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
      if (values.length > 0) this.sendBatch(this.ownBallot!, values, this.clientBatchAsks(batch, values.length));
    }
  }

  /**
   * Whom a client batch asks to vote (see quietVoters). A large one: a
   * quorum, the fastest first. A small one (at most acceptedToAllUpTo
   * values) after another small one, with no other in flight, is low load:
   * a quorum, the followers that forwarded it first. A small one under load
   * (the gap of a busy cycle) asks everyone, so that its first two votes
   * choose it: asking one follower there lost every steady comparison with
   * etcd in eight alternated bench runs (docs/performance.md).
   */
  private clientBatchAsks(batch: readonly PendingCommand[], size: number): BatchAsks {
    const small = size <= (this.cfg.acceptedToAllUpTo ?? 0);
    const lowLoad = small && this.lastBatchSmall && this.inflight.size === 0;
    this.lastBatchSmall = small;
    if (!small) return { thriftyFirst: [] };
    return lowLoad ? { thriftyFirst: [...new Set(batch.map((p) => p.via))] } : "everyone";
  }

  /** Whether a new batch may go out now: within the window, not above an unchosen change [Stall], with its quorum promised [Coverage]. */
  protected canSendBatch(): boolean {
    if (this.role !== "leader" || this.inflight.size >= this.cfg.maxInflight) return false;
    if (this.inflight.size > 0 && this.pending.length < (this.cfg.minPipelinedBatch ?? 1) && this.queuedChange === null) return false;
    return !this.proposalsStalled() && this.covered(this.nextSlot);
  }

  /** Coverage: the nodes that promised this leader's ballot include a quorum of the membership of `slot`. */
  protected covered(slot: number): boolean {
    return isQuorum(voterIds(this.membershipFor(slot)), this.promisedBy);
  }

  /** Asks the members whose promise this leader lacks for it, once per resend interval, while Coverage is short. */
  protected askForCoverage(): void {
    if (this.covered(this.nextSlot) || this.now - this.coverageAskedAt < this.cfg.resendTicks) return;
    this.coverageAskedAt = this.now;
    for (const id of memberIds(this.membershipFor(this.nextSlot))) {
      if (!this.promisedBy.has(id)) this.send(id, { type: "prepare", ballot: this.ownBallot!, fromSlot: this.commitIndex });
    }
  }

  /**
   * Phase 2a [Chand Fig. 1 accept] for a fresh batch. A recovered batch asks
   * every acceptor to vote; a client batch may ask only a quorum, the nodes
   * in `thriftyFirst` first (quietVoters).
   */
  protected sendBatch(ballot: Ballot, values: Value[], asks: BatchAsks): void {
    const fromSlot = this.nextSlot;
    this.nextSlot += values.length;
    const m = this.membershipFor(fromSlot);
    const voters = voterIds(m);
    const quiet = asks === "everyone" ? [] : this.quietVoters(voters, asks.thriftyFirst);
    this.inflight.set(fromSlot, { fromSlot, values, acks: new Set(), voters, members: [...memberIds(m)], sentAtTick: this.now, quiet });
    // Every member of that membership votes or learns; the members of the newest known one learn too.
    const msg: Message = { type: "accept", ballot, fromSlot, values, commitIndex: this.commitIndex, ...(quiet.length > 0 ? { quiet } : {}) };
    for (const id of new Set([this.id, ...memberIds(m), ...this.peers])) this.send(id, msg);
    this.commitAnnounced = this.commitIndex;
  }

  /**
   * Thrifty Phase 2a (Moraru et al., SOSP 2013, "thrifty" optimization): a
   * quorum of votes is all a batch needs, and each vote costs its acceptor
   * an fdatasync on a disk the nodes may share (with one client, three
   * fdatasyncs at once took 0.36-0.65 ms each where one alone takes
   * 0.2-0.3). The leader asks itself, then `first`: for a small batch at
   * low load (clientBatchAsks; at most acceptedToAllUpTo values, so every
   * voter tells every member of its vote), the followers that forwarded its
   * commands, each of which answers its client once it learns the batch
   * chosen from its own vote and the leader's, so asking it costs no wait.
   * Then the acceptors whose votes completed the last batch (the fastest
   * under load, where asking the forwarder first cost 7-10% of the
   * throughput at 32 clients), then the most recently heard, until they
   * form a quorum of `voters`; the rest take the values quietly. A quiet
   * acceptor never voted, so losing what it took in a crash is as if the
   * Accept had been lost. Returns the quiet voters (none when thrifty is
   * off or no smaller quorum exists).
   */
  private quietVoters(voters: ReadonlySet<NodeId>, first: readonly NodeId[]): NodeId[] {
    if ((this.cfg.thriftyFallbackTicks ?? 0) <= 0) return [];
    const heard = (id: NodeId) => this.lastHeardTick.get(id) ?? -1;
    const order = [this.id, ...first, ...this.fastVoters, ...[...voters].sort((a, b) => heard(b) - heard(a) || a - b)];
    const asked = new Set<NodeId>();
    for (const id of order) {
      if (!voters.has(id)) continue;
      asked.add(id);
      if (isQuorum(voters, asked)) break;
    }
    return [...voters].filter((id) => !asked.has(id));
  }

  /**
   * Learn [Chand Fig. 1 learn], made prompt: when the commit point moved and
   * no Accept of this Ready carried it, the followers get a Commit at once,
   * so they apply (and answer the clients whose commands they forwarded)
   * without waiting for the next Accept or heartbeat.
   */
  protected announceCommit(): void {
    if (this.role !== "leader" || this.commitIndex <= this.commitAnnounced) return;
    this.commitAnnounced = this.commitIndex;
    this.broadcast({ type: "commit", ballot: this.ownBallot!, commitIndex: this.commitIndex }, false);
  }

  /** A follower's clients' commands [cf. etcd MsgProp]: queued like the leader's own, answered by nobody here. */
  protected onPropose(from: NodeId, msg: Extract<Message, { type: "propose" }>): void {
    if (this.role !== "leader") return; // the follower forwards again once it learns who leads
    const stale: Command[] = [];
    const overloaded: Command[] = [];
    for (const command of msg.commands) {
      const key = commandKey(command);
      const done = this.list.lookup(command);
      if (done === "stale") stale.push(command);
      if (done !== undefined) continue; // applied: the follower answers when it applies that slot too
      if (this.waiters.has(key)) continue; // already on its way
      if (this.pending.length >= this.cfg.maxPending) {
        overloaded.push(command);
        continue;
      }
      this.pending.push({ key, command, via: from });
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
  protected onProposeRefused(msg: Extract<Message, { type: "proposeRefused" }>): void {
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
  protected flushForwards(): void {
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
  protected override forwardAgain(due: (f: NonNullable<Waiter["forward"]>) => boolean): void {
    for (const w of this.waiters.values()) if (w.forward !== null && due(w.forward)) this.forwardQueue.push(w.forward.command);
  }

  /**
   * Messages can be lost: an Accept still short of a majority goes again to the silent nodes (this one too,
   * if its vote is missing). A thrifty batch asks every acceptor to vote sooner, after thriftyFallbackTicks:
   * one it asked may be slow or gone, and the ones it did not ask already hold the values.
   */
  protected resendStaleAccepts(): void {
    for (const batch of this.inflight.values()) {
      const after = batch.quiet.length > 0 ? this.cfg.thriftyFallbackTicks! : this.cfg.resendTicks;
      if (this.now - batch.sentAtTick < after) continue;
      batch.sentAtTick = this.now;
      if (batch.quiet.length > 0) this.thriftyFallbackCount++;
      batch.quiet = [];
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
  protected checkQuorum(): void {
    if (this.now % this.cfg.electionTicksMax !== 0) return;
    if (!this.heardFromQuorum(this.cfg.electionTicksMax)) this.becomeFollower(null);
  }

  /** Whether this leader (counted if a voter) heard from a quorum of the voters within `ticks`. */
  protected heardFromQuorum(ticks: number): boolean {
    const heard = [this.id];
    for (const p of this.peers) if (this.now - (this.lastHeardTick.get(p) ?? -Infinity) < ticks) heard.push(p);
    return isQuorum(this.voters, heard);
  }

  /** Whether a leader is alive: as leader, a quorum was heard lately; as follower, the leader was. */
  protected override leaderRecentlyAlive(): boolean {
    if (this.role === "leader") return this.heardFromQuorum(this.cfg.electionTicksMin);
    return this.leader !== null && this.now - this.lastLeaderContact < this.cfg.electionTicksMin;
  }

  // ------------------------------------------------- heartbeats, reads ----

  protected broadcastHeartbeat(): void {
    this.heartbeatDue = false;
    if (this.role !== "leader") return;
    this.heartbeatElapsed = 0;
    this.heartbeatSeq++;
    this.broadcast({ type: "heartbeat", ballot: this.ownBallot!, commitIndex: this.commitIndex, seq: this.heartbeatSeq }, false);
    this.commitAnnounced = this.commitIndex;
  }

  protected onHeartbeat(from: NodeId, msg: Extract<Message, { type: "heartbeat" }>): void {
    if (!this.onCommit(from, msg)) return;
    this.send(from, { type: "heartbeatAck", ballot: msg.ballot, seq: msg.seq, commitIndex: this.commitIndex });
  }

  /** The leader's commit point (a Commit, or a heartbeat's); false when its ballot was refused. */
  protected onCommit(from: NodeId, msg: { readonly ballot: Ballot; readonly commitIndex: number }): boolean {
    this.noteRound(msg.ballot);
    if (!this.admits(msg.ballot)) {
      this.send(from, { type: "nack", ballot: msg.ballot, promised: this.promised });
      return false;
    }
    this.followLeader(msg.ballot, msg.commitIndex);
    return true;
  }

  protected onHeartbeatAck(from: NodeId, msg: Extract<Message, { type: "heartbeatAck" }>): void {
    if (this.role !== "leader" || !ballotEquals(msg.ballot, this.ownBallot!)) return;
    this.lastHeardTick.set(from, this.now);
    this.ackedSeq.set(from, Math.max(this.ackedSeq.get(from) ?? 0, msg.seq));
    this.peerCommit.set(from, Math.max(this.peerCommit.get(from) ?? 0, msg.commitIndex));
    this.completeReads();
  }

  protected completeReads(): void {
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
}
