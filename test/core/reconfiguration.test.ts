// Membership changes on the pure core (in-memory network, see
// cluster-harness.ts), one rule of membership.ts per test: learners first,
// promotion as its own change, removing the leader, a removed node taking no
// further part, ids never reused, the refusals, and the membership carried
// by snapshots and restarts.

import { describe, expect, it } from "vitest";
import type { Membership } from "../../src/core/membership.js";
import type { ClientResult, NodeId } from "../../src/core/types.js";
import { cmd, partition, TestCluster } from "./cluster-harness.js";

const address = (id: number) => `node-${id}:${5000 + id}:${6000 + id}:${7000 + id}`;

function changed(c: TestCluster, requestId: number): Membership {
  const r = c.result(requestId);
  if (r?.kind !== "changed") throw new Error(`request ${requestId}: ${JSON.stringify(r)}`);
  return r.membership;
}

function refusal(c: TestCluster, requestId: number): string | undefined {
  const r = c.result(requestId) as ClientResult | undefined;
  return r?.kind === "changeRefused" ? r.refusal : undefined;
}

const roles = (m: Membership) => m.members.map((x) => `${x.id}${x.role === "voter" ? "" : "L"}`).join(",");

/** A 3-node cluster with a leader and a few appends. */
function running(): { c: TestCluster; leader: NodeId } {
  const c = new TestCluster(3);
  const leader = c.electLeader();
  for (let i = 1; i <= 3; i++) c.propose(leader, cmd(1, i, i));
  c.deliverAll();
  c.tickAll(3);
  return { c, leader };
}

/** Adds a learner at id `id` and starts it, as the runtime does once the change is chosen. */
function addLearner(c: TestCluster, leader: NodeId, id: number): Membership {
  const m = changed(c, proposeAndSettle(c, leader, { kind: "add", address: address(id) }));
  c.addNode(id, m);
  c.tickAll(5);
  return m;
}

function proposeAndSettle(c: TestCluster, node: NodeId, change: Parameters<TestCluster["proposeChange"]>[1]): number {
  const id = c.proposeChange(node, change);
  c.deliverAll();
  c.tickAll(3);
  return id;
}

describe("learners first", () => {
  it("a new node joins as a learner: it gets the log, but its votes do not count", () => {
    const { c, leader } = running();
    const m = addLearner(c, leader, 3);
    expect(roles(m)).toBe("0,1,2,3L");
    expect(m.nextId).toBe(4);
    expect(c.list(3)).toEqual(c.list(leader));
    expect(c.core(3).status().member).toBe("learner");
    // With only the leader and the learner talking, nothing more is chosen: the learner is not a voter.
    c.filter = partition([leader, 3]);
    const before = c.core(leader).commitIndex;
    c.propose(leader, cmd(2, 1, 99));
    c.tickAll(5);
    expect(c.core(leader).commitIndex).toBe(before);
  });

  it("is promoted once caught up, by a change of its own; then it counts", () => {
    const { c, leader } = running();
    addLearner(c, leader, 3);
    const m = changed(c, proposeAndSettle(c, leader, { kind: "promote", id: 3 }));
    expect(roles(m)).toBe("0,1,2,3");
    expect(c.core(3).status().member).toBe("voter");
    // 4 voters: the leader, the new voter and one more make a quorum; the leader and the new voter alone do not.
    const other = [0, 1, 2].find((x) => x !== leader)!;
    c.filter = partition([leader, 3, other]);
    c.propose(leader, cmd(3, 1, 50));
    c.tickAll(5);
    expect(c.list(3)).toContain(50);
    c.filter = partition([leader, 3]);
    const before = c.core(leader).commitIndex;
    c.propose(leader, cmd(3, 2, 51));
    c.tickAll(5);
    expect(c.core(leader).commitIndex).toBe(before);
  });

  it("a learner that has not caught up is not promoted (learner_behind)", () => {
    const { c, leader } = running();
    const m = changed(c, proposeAndSettle(c, leader, { kind: "add", address: address(3) }));
    expect(roles(m)).toBe("0,1,2,3L");
    // The new node never starts: it is far behind.
    for (let i = 0; i < 600; i++) c.propose(leader, cmd(4, i + 1, 1000 + i));
    c.deliverAll();
    expect(refusal(c, proposeAndSettle(c, leader, { kind: "promote", id: 3 }))).toBe("learner_behind");
  });

  it("a learner the leader has not heard from is not promoted, however young the log (learner_behind)", () => {
    const { c, leader } = running();
    changed(c, proposeAndSettle(c, leader, { kind: "add", address: address(3) }));
    // The new node never starts, and the log is short: only having heard from it shows it caught up.
    expect(c.core(leader).commitIndex).toBeLessThan(50);
    const r = proposeAndSettle(c, leader, { kind: "promote", id: 3 });
    expect(refusal(c, r)).toBe("learner_behind");
  });
});

describe("removing members", () => {
  it("removing the leader: it steps down once the change is chosen, and the others elect a leader", () => {
    const { c, leader } = running();
    const m = changed(c, proposeAndSettle(c, leader, { kind: "remove", id: leader }));
    expect(m.members.map((x) => x.id)).not.toContain(leader);
    expect(c.core(leader).status()).toMatchObject({ role: "follower", member: "removed" });
    c.tickAll(100);
    const next = c.leader();
    expect(next).not.toBeNull();
    expect(next).not.toBe(leader);
    // The cluster of two goes on.
    const r = c.propose(next!, cmd(5, 1, 77));
    c.tickAll(5);
    expect(c.result(r)).toMatchObject({ kind: "appended" });
  });

  it("a removed node takes no further part: no elections, no traffic, clients refused with not_applied", () => {
    const { c, leader } = running();
    const victim = [0, 1, 2].find((x) => x !== leader)!;
    changed(c, proposeAndSettle(c, leader, { kind: "remove", id: victim }));
    expect(c.core(victim).status().member).toBe("removed");
    const sentBefore = c.trace.filter((e) => e.from === victim).length;
    c.tickAll(200); // many election timeouts
    expect(c.trace.filter((e) => e.from === victim).length).toBe(sentBefore);
    const r = c.propose(victim, cmd(6, 1, 5));
    c.flush(victim);
    expect(c.result(r)).toMatchObject({ kind: "rejected", reason: "removed", outcome: "not_applied" });
  });

  it("a removed node that never learned of its removal cannot disrupt the cluster with elections", () => {
    const { c, leader } = running();
    const victim = [0, 1, 2].find((x) => x !== leader)!;
    // The victim is cut off before it hears of its removal, then comes back campaigning.
    c.filter = partition([0, 1, 2].filter((x) => x !== victim));
    changed(c, proposeAndSettle(c, leader, { kind: "remove", id: victim }));
    c.tickAll(100, partition([0, 1, 2].filter((x) => x !== victim), [victim])); // it campaigns alone, raising its round
    const ballot = c.core(leader).status().promised;
    c.filter = null;
    c.tickAll(100);
    expect(c.leader()).toBe(leader);
    expect(c.core(leader).status().promised).toEqual(ballot); // its Prepares and pre-votes were ignored
  });

  it("a removed node hands a voter that missed the removal its snapshot, when its log no longer reaches back to the voter's commit point", () => {
    // Two voters, L and F. L proposes F's removal; F learns it chosen (from its own vote and L's,
    // acceptedToAllUpTo) but L never hears F's votes, and F compacts right after. L steps down and
    // campaigns; only F can tell it what was chosen, and F's log starts beyond L's commit point
    // (found by the simulator, seed 251 of the Raft-rule control core).
    const c = new TestCluster(3, { acceptedToAllUpTo: 2, snapshotEvery: 2 });
    const l = c.electLeader();
    const [f, x] = [0, 1, 2].filter((id) => id !== l) as [NodeId, NodeId];
    changed(c, proposeAndSettle(c, l, { kind: "remove", id: x }));
    const fToL = (env: { from: NodeId; to: NodeId; msg: { type: string } }) => env.from === f && env.to === l && env.msg.type === "accepted";
    c.filter = (env) => (fToL(env) ? "drop" : "deliver");
    const commitOfL = c.core(l).commitIndex;
    c.propose(l, cmd(7, 1, 71)); // one append: F compacts with it, and its log then holds the removal alone
    c.deliverAll();
    c.proposeChange(l, { kind: "remove", id: f });
    c.deliverAll();
    expect(c.core(f).status().member).toBe("removed");
    expect(c.core(l).commitIndex).toBe(commitOfL); // L learned none of it
    // F compacted past L's commit point, and its log holds what came after (so a tail of it is no help).
    expect(c.core(f).firstLoggedSlot).toBeGreaterThan(commitOfL);
    expect(c.core(f).firstLoggedSlot).toBeLessThan(c.core(f).commitIndex);
    c.tickAll(300); // L loses its quorum's contact, steps down, campaigns: F answers with its snapshot
    expect(c.core(l).status().member).toBe("voter");
    expect(c.core(l).membership().members.map((m) => m.id)).toEqual([l]);
    expect(c.leader()).toBe(l);
    expect(c.list(l)).toEqual([71]);
  });

  it("ids are never reused: a node added after a removal gets a new id", () => {
    const { c, leader } = running();
    const victim = [0, 1, 2].find((x) => x !== leader)!;
    changed(c, proposeAndSettle(c, leader, { kind: "remove", id: victim }));
    const m = changed(c, proposeAndSettle(c, leader, { kind: "add", address: address(victim) }));
    expect(m.members.at(-1)).toEqual({ id: 3, role: "learner", address: address(victim) });
  });
});

describe("refusals change nothing", () => {
  it("one change at a time (change_pending), and not before the leader's first slot is chosen (not_ready)", () => {
    const { c, leader } = running();
    const first = c.proposeChange(leader, { kind: "add", address: address(3) });
    const second = c.proposeChange(leader, { kind: "add", address: address(4) });
    c.flush(leader);
    expect(refusal(c, second)).toBe("change_pending");
    c.deliverAll();
    expect(roles(changed(c, first))).toBe("0,1,2,3L");

    // A new leader whose recovered slots are not chosen yet says not_ready.
    const d = new TestCluster(3);
    const l1 = d.electLeader();
    d.propose(l1, cmd(1, 1, 1));
    d.flush(l1);
    d.crash(l1); // its Accept is on the wire: whoever leads next recovers it
    d.deliverAll();
    const l2 = d.electLeader(500, (env) => (env.msg.type === "accepted" && env.to !== env.from ? "hold" : "deliver"));
    const early = d.proposeChange(l2, { kind: "add", address: address(3) });
    d.flush(l2);
    expect(refusal(d, early)).toBe("not_ready");
  });

  it("names the rest: not_leader, unknown_member, address_taken, last_voter, would_lose_quorum", () => {
    const { c, leader } = running();
    const follower = [0, 1, 2].find((x) => x !== leader)!;
    expect(refusal(c, proposeAndSettle(c, follower, { kind: "remove", id: 2 }))).toBe("not_leader");
    expect(refusal(c, proposeAndSettle(c, leader, { kind: "remove", id: 9 }))).toBe("unknown_member");
    expect(refusal(c, proposeAndSettle(c, leader, { kind: "add", address: address(1) }))).toBe("address_taken");
    // One voter down: removing another live one would leave 1 of 2 voters answering.
    const down = [0, 1, 2].find((x) => x !== leader && x !== follower)!;
    c.crash(down);
    c.tickAll(30);
    expect(refusal(c, proposeAndSettle(c, leader, { kind: "remove", id: follower }))).toBe("would_lose_quorum");
    const one = new TestCluster(1);
    const l = one.electLeader();
    expect(refusal(one, proposeAndSettle(one, l, { kind: "remove", id: l }))).toBe("last_voter");
    expect(roles(c.core(leader).membership())).toBe("0,1,2");
  });
});

describe("membership is durable state", () => {
  it("survives restarts and travels in snapshots: a node added after compaction learns it from one", () => {
    const c = new TestCluster(3, { snapshotEvery: 5 });
    const leader = c.electLeader();
    const m = addLearner(c, leader, 3);
    for (let i = 1; i <= 20; i++) c.propose(leader, cmd(1, i, i));
    c.deliverAll();
    c.tickAll(5);
    // Node 4 joins long after compaction: its log starts from a snapshot that carries the membership.
    const m4 = changed(c, proposeAndSettle(c, leader, { kind: "add", address: address(4) }));
    c.addNode(4, m4);
    c.tickAll(10);
    expect(c.core(4).firstLoggedSlot).toBeGreaterThan(m.slot);
    expect(c.list(4)).toEqual(c.list(leader));
    expect(roles(c.core(4).membership())).toBe("0,1,2,3L,4L");
    // Every node restarts from its durable records alone and knows the membership.
    for (const id of [0, 1, 2, 3, 4]) {
      c.crash(id);
      c.restart(id);
      expect(roles(c.core(id).membership())).toBe("0,1,2,3L,4L");
    }
  });
});
