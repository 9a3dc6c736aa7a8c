// The acceptor [PMS 2.2; Chand Fig. 1, phase1b and phase2b]: promises and
// votes, made durable before they leave (waitsForDurability).

import { compareBallots, NO_BALLOT } from "./ballot.js";
import { memberIds } from "./membership.js";
import type { Message, NodeId, SlotVote } from "./types.js";

import { CoreState } from "./core-state.js";

/** Answers Prepares and Accepts. */
export abstract class AcceptorRole extends CoreState {
  // --------------------------------------------------------- acceptor ----

  /** Phase 1b [PMS 2.2; Chand Fig. 1 phase1b]: promise a ballot at least as high as any promised. */
  protected onPrepare(from: NodeId, msg: Extract<Message, { type: "prepare" }>): void {
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
  protected votesFrom(fromSlot: number): SlotVote[] {
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
  protected onAccept(from: NodeId, msg: Extract<Message, { type: "accept" }>): void {
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
    // Thrifty Phase 2a: when the leader asked a quorum without this acceptor, it keeps the values (to learn
    // them chosen from the commit point) and sends no vote, so no message waits for these records to be
    // durable: the runtime writes them without an fdatasync of their own (syncNeeded).
    if (msg.quiet === undefined || !msg.quiet.includes(this.id)) this.vote(from, msg);
    if (from !== this.id) this.followLeader(msg.ballot, msg.commitIndex);
  }

  /** Phase 2b's answer to an Accept this acceptor took: its Accepted, to the leader (and to every member for a small batch). */
  private vote(from: NodeId, msg: Extract<Message, { type: "accept" }>): void {
    const accepted: Message = { type: "accepted", ballot: msg.ballot, fromSlot: msg.fromSlot, count: msg.values.length };
    this.send(from, accepted);
    if (msg.values.length <= (this.cfg.acceptedToAllUpTo ?? 0)) {
      // PMS 2.3: an acceptor may tell every learner of its vote. Votes are released only once
      // durable, this node's own copy too; then it counts for this node's learner. The leader's
      // acceptor (from === this.id) tells the followers as well: a follower then learns a small
      // batch from its own vote and the leader's, as soon as both are on disk, instead of waiting
      // for the other follower's vote or the leader's Commit (one hop less at low load).
      for (const id of memberIds(this.membershipFor(msg.fromSlot))) if (id !== from) this.send(id, accepted);
    }
  }
}
