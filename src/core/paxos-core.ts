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

import { checkMembership, findMember, nextMembership, voterIds, type ChangeRefusal, type Membership, type MembershipChange } from "./membership.js";
import { isQuorum } from "./quorum.js";
import { CHANGE_GATE_MESSAGES } from "./core-state.js";
import { commandKey } from "./replicated-list.js";
import type { Command, CoreConfig, CoreStatus, Message, NodeId, PersistRecord, Ready, Snapshot, Value } from "./types.js";
import { MembershipRole } from "./membership-role.js";

export { NOOP, syncNeeded, waitsForDurability, type AcceptedVote } from "./core-state.js";

export class PaxosCore extends MembershipRole {
  /** Builds a node from its config and replays its durable records (in write order). */
  constructor(cfg: CoreConfig, records: readonly PersistRecord[] = [], snapshot: Snapshot | null = null) {
    checkMembership(cfg.genesis);
    if (cfg.known !== undefined) checkMembership(cfg.known);
    super(cfg);
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
      // and with two voters left the other cannot win without this one): send it the chosen values it
      // lacks from its commit point on (or the snapshot, if this node's log no longer reaches back there),
      // the removal among them. Chosen values are safe to hand anyone; a ballot would not be.
      if (msg.type === "preVote") this.sendChosenFrom(from, msg.commitIndex);
      else if (msg.type === "prepare") this.sendChosenFrom(from, msg.fromSlot);
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
    const key = commandKey(command);
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
    this.pending.push({ key, command, via: this.id });
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

  /** This node applied its own removal (status().member === "removed", without building the status). */
  isRemoved(): boolean {
    return this.removed;
  }

  /** The newest membership this node knows. */
  membership(): Membership {
    return this.known;
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

  /** Thrifty Accepts this node, as leader, had to send again to every acceptor (since it started). */
  get thriftyFallbacks(): number {
    return this.thriftyFallbackCount;
  }

  /** The first slot whose chosen value is still in the log (earlier ones are in the snapshot). */
  get firstLoggedSlot(): number {
    return this.logStart;
  }

  /** The chosen value of a slot in [firstLoggedSlot, commitIndex). */
  chosenValue(slot: number): Value | undefined {
    return slot < this.logStart ? undefined : this.log[slot - this.logStart];
  }
}
