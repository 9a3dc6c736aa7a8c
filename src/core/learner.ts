// The learner: chosen values applied in slot order, catch-up from the
// leader, snapshots (compaction), and replaying the durable records at start.

import { ballotEquals, compareBallots, maxBallot } from "./ballot.js";
import { checkMembership, voterIds } from "./membership.js";
import { isQuorum } from "./quorum.js";
import { commandKey } from "./replicated-list.js";
import type { Ballot, Message, NodeId, PersistRecord, Snapshot, Value } from "./types.js";
import { AcceptorRole } from "./acceptor.js";

/** Most small batches whose Accepteds a follower counts at once (a shortcut; the leader's Commit still comes). */
const MAX_PEER_ACCEPTS = 64;

/** Learns and applies chosen values. */
export abstract class LearnerRole extends AcceptorRole {
  // --------------------------------------------------------- follower ----

  /** Accepts `ballot` as the current leadership and learns its commit point. */
  protected override followLeader(ballot: Ballot, leaderCommit: number): void {
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

  protected requestCatchupIfBehind(): void {
    if (this.role !== "follower" || this.leader === null || this.leader === this.id) return;
    if (this.commitIndex >= this.leaderCommitIndex || this.catchupSentAtTick !== null) return;
    this.catchupSentAtTick = this.now;
    this.send(this.leader, { type: "catchupRequest", fromSlot: this.commitIndex });
  }

  protected onCatchupRequest(from: NodeId, msg: Extract<Message, { type: "catchupRequest" }>): void {
    this.sendChosenFrom(from, msg.fromSlot);
  }

  /** The chosen values from `fromSlot` on (at most a catch-up batch), or the snapshot if they were compacted away. */
  protected sendChosenFrom(to: NodeId, fromSlot: number): void {
    if (fromSlot < this.logStart) {
      this.send(to, { type: "installSnapshot", snapshot: this.snapshotNow() });
      return;
    }
    const end = Math.min(this.commitIndex, fromSlot + this.cfg.catchupBatch);
    if (fromSlot >= end) return;
    this.send(to, {
      type: "catchupReply",
      fromSlot,
      values: this.log.slice(fromSlot - this.logStart, end - this.logStart),
      commitIndex: this.commitIndex,
    });
  }

  /** A lagging node takes a snapshot beyond its commit point; a leader never does (see onCatchupReply). */
  protected onInstallSnapshot(msg: Extract<Message, { type: "installSnapshot" }>): void {
    if (this.role === "leader" || msg.snapshot.upTo <= this.commitIndex) return;
    this.installSnapshot(msg.snapshot);
    this.answerFromSnapshot();
    this.outPersist.push({ type: "snapshot", snapshot: msg.snapshot, retained: this.retainedRecords() });
    this.advanceCommit();
    this.catchupSentAtTick = null;
    this.requestCatchupIfBehind();
  }

  /** Forwarded commands applied inside an installed snapshot were never applied here one by one: answer them now. */
  protected answerFromSnapshot(): void {
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

  protected onCatchupReply(msg: Extract<Message, { type: "catchupReply" }>): void {
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

  /**
   * Learning from the acceptors [PMS 2.3: each acceptor, whenever it accepts
   * a proposal, responds to all learners]: a value is chosen once a quorum of
   * its slot's voters accepted it in one ballot, and in one ballot a slot has
   * one value, so a follower that voted for the batch in that ballot holds
   * it. Its own vote counts only as its own Accepted, which the runtime
   * releases once durable. Only a batch right at the applied prefix is
   * learned this way: below it every slot is applied, so the batch's
   * membership is known exactly [Effect]; anything else waits for the leader.
   */
  protected onPeerAccepted(from: NodeId, msg: Extract<Message, { type: "accepted" }>): void {
    if (msg.fromSlot + msg.count <= this.commitIndex || msg.count === 0) return;
    let heard = this.peerAccepts.get(msg.fromSlot);
    if (heard !== undefined && compareBallots(msg.ballot, heard.ballot) < 0) return; // a vote of an older ballot
    if (heard === undefined || !ballotEquals(msg.ballot, heard.ballot) || heard.count !== msg.count) {
      if (this.peerAccepts.size >= MAX_PEER_ACCEPTS) this.peerAccepts.clear(); // bounded; only a shortcut is lost
      heard = { ballot: msg.ballot, count: msg.count, from: new Set() };
      this.peerAccepts.set(msg.fromSlot, heard);
    }
    heard.from.add(from);
    this.learnFromPeerAccepts();
  }

  /** Learns the batches at the applied prefix whose Accepteds form a quorum, one after another. */
  private learnFromPeerAccepts(): void {
    for (;;) {
      const heard = this.peerAccepts.get(this.commitIndex);
      if (heard === undefined || !isQuorum(voterIds(this.membershipFor(this.commitIndex)), heard.from)) return;
      const fromSlot = this.commitIndex;
      const values: Value[] = [];
      for (let i = 0; i < heard.count; i++) {
        const vote = this.accepted.get(fromSlot + i);
        if (vote === undefined || !ballotEquals(vote.ballot, heard.ballot)) return; // our vote is not (or no longer) that one
        values.push(vote.value);
      }
      this.peerAccepts.delete(fromSlot);
      for (let i = 0; i < values.length; i++) this.learnChosen(fromSlot + i, values[i]!);
      this.advanceCommit(); // the next batch, if heard, now starts at the new commit index
    }
  }

  protected learnChosen(slot: number, value: Value): void {
    if (slot < this.commitIndex) return;
    this.chosenAhead.set(slot, value);
  }

  /** Moves the contiguous chosen prefix into the log and applies it in slot order. */
  protected advanceCommit(): void {
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
      if (this.peerAccepts.size > 0) for (const [slot, heard] of this.peerAccepts) if (slot + heard.count <= this.commitIndex) this.peerAccepts.delete(slot);
      this.outPersist.push({ type: "chosen", fromSlot: from, values: this.log.slice(from - this.logStart) });
      if (this.log.length >= (this.cfg.snapshotEvery ?? 10_000)) this.compact();
    }
  }

  // ------------------------------------------------------- compaction ----

  /**
   * Folds the applied log into a snapshot: memory and disk keep only the
   * list (and exactly-once tables) plus what lies above the commit point.
   */
  protected compact(): void {
    const snapshot = this.snapshotNow();
    this.log = [];
    this.logStart = snapshot.upTo;
    this.outPersist.push({ type: "snapshot", snapshot, retained: this.retainedRecords() });
  }

  protected override snapshotNow(): Snapshot {
    return { upTo: this.commitIndex, state: this.list.state(), membership: this.applied };
  }

  protected installSnapshot(snapshot: Snapshot): void {
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
  protected retainedRecords(): PersistRecord[] {
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

  protected applyChosen(slot: number, value: Value): void {
    this.outApplied.push({ slot, value });
    if (value.kind === "membership") return this.applyMembership(slot, value);
    if (value.kind !== "command") return;
    const applied = this.list.apply(value.command, slot);
    if (this.waiters.size === 0) return; // a node with no clients waiting builds no key
    const key = commandKey(value.command);
    const waiting = this.waiters.get(key);
    if (waiting === undefined) return;
    this.settle(key, waiting, (requestId) =>
      applied.kind === "stale"
        ? { kind: "rejected", requestId, reason: "stale", outcome: "unknown", leader: this.leader }
        : { kind: "appended", requestId, index: applied.index, duplicate: applied.duplicate },
    );
  }

  // ---------------------------------------------------------- restore ----

  /** Rebuilds durable state from the latest snapshot and the records written after it, in order. */
  protected restore(snapshot: Snapshot | null, records: readonly PersistRecord[]): void {
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
