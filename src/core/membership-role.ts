// The membership in force and changing it (membership.ts has the value and
// the rules Effect, Stall, Coverage and One; docs/reconfiguration.md argues them).

import { findMember, nextMembership, voterIds, type Membership } from "./membership.js";
import type { Message, Value } from "./types.js";

import { LeaderRole } from "./leader.js";

/** Applies membership changes and follows them. */
export abstract class MembershipRole extends LeaderRole {
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
  protected override applyMembership(slot: number, value: Extract<Value, { kind: "membership" }>): void {
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
  protected setKnown(m: Membership): void {
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
  protected override switchMembership(m: Membership): void {
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
  protected mayCampaign(): boolean {
    return !this.removed && this.voters.has(this.id) && this.known.slot < this.commitIndex;
  }

  /** The memberships that may govern slots above the commit point: the one in force, and any not yet applied. */
  protected override governingMemberships(): Membership[] {
    const out = [this.known, ...this.recoveredChanges.map((c) => c.membership)];
    if (this.ownChange !== null) out.push(this.ownChange.membership);
    return out;
  }
}
