// A follower's clients: the follower hands their commands to the leader
// (Propose), the leader tells the followers its commit point at once
// (Commit), and the follower answers from its own copy of the list once it
// has applied the command. Repeats are harmless (the leader and the list
// deduplicate), so a follower forwards again after a leader change or a
// silence; "not_applied" is said only when the request's one copy was refused.
import { describe, expect, it } from "vitest";
import { cmd, holdTypes, TestCluster } from "./cluster-harness.js";
import type { Envelope } from "../../src/core/types.js";

/** Leaves the leader with one batch in flight (its Accepteds held) and a full queue (maxPending 2, maxInflight 1, maxBatch 1). */
function fillLeader(cl: TestCluster, l: number): void {
  cl.propose(l, cmd(101, 1, 101));
  cl.deliverAll(holdTypes("accepted"));
  cl.propose(l, cmd(102, 1, 102));
  cl.propose(l, cmd(103, 1, 103));
}

function clusterWithFollower(overrides = {}) {
  const cl = new TestCluster(3, overrides);
  const l = cl.electLeader();
  cl.tickAll(3);
  const f = cl.ids.find((id) => id !== l)!;
  return { cl, l, f, other: cl.ids.find((id) => id !== l && id !== f)! };
}

describe("appends through a follower", () => {
  it("are proposed by the leader and answered by the follower from its own list, with no tick needed", () => {
    const { cl, l, f } = clusterWithFollower();
    const w = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll(); // no tick: the Commit, not a heartbeat, tells the follower
    expect(cl.results[f]).toEqual([{ kind: "appended", requestId: w, index: 0, duplicate: false }]);
    expect(cl.results[l]).toEqual([]);
    expect(cl.list(f)).toEqual([10]);
    expect(cl.sent("propose", { from: f, to: l })).toHaveLength(1);
    expect(cl.sent("commit", { from: l }).length).toBeGreaterThan(0);
  });

  it("every follower learns the commit point at once, not at the next heartbeat", () => {
    const { cl, l } = clusterWithFollower();
    cl.propose(l, cmd(1, 1, 10));
    cl.deliverAll();
    for (const id of cl.ids) expect(cl.core(id).commitIndex).toBe(1);
  });

  it("forwards a command once however many requests wait for it, and answers them all", () => {
    const { cl, f } = clusterWithFollower();
    const a = cl.propose(f, cmd(1, 1, 10));
    const b = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll();
    expect(cl.sent("propose", { from: f }).flatMap((e) => e.msg.commands)).toEqual([cmd(1, 1, 10)]);
    expect(cl.result(a)).toMatchObject({ kind: "appended", index: 0 });
    expect(cl.result(b)).toMatchObject({ kind: "appended", index: 0 });
  });

  it("commands forwarded in one ready() travel in one Propose", () => {
    const { cl, f } = clusterWithFollower();
    for (let i = 1; i <= 5; i++) cl.propose(f, cmd(i, 1, i));
    cl.deliverAll();
    expect(cl.sent("propose", { from: f })).toHaveLength(1);
    expect(cl.list(f)).toEqual([1, 2, 3, 4, 5]);
  });

  it("answers a retry of a command it has applied at once, without asking the leader", () => {
    const { cl, f } = clusterWithFollower();
    cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll();
    const proposes = cl.sent("propose").length;
    const again = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll();
    expect(cl.result(again)).toEqual({ kind: "appended", requestId: again, index: 0, duplicate: true });
    expect(cl.sent("propose")).toHaveLength(proposes);
  });

  it("a lost Propose is sent again after resendTicks, and the command is applied once", () => {
    const { cl, f } = clusterWithFollower({ resendTicks: 10 });
    let dropped = 0;
    const w = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll((env) => (env.msg.type === "propose" && dropped++ === 0 ? "drop" : "deliver"));
    expect(cl.result(w)).toBeUndefined();
    cl.tickAll(20); // the follower looks for silent forwards every resendTicks
    expect(cl.result(w)).toMatchObject({ kind: "appended", index: 0 });
    for (const id of cl.ids) expect(cl.list(id)).toEqual([10]);
  });

  it("after a leader change it forwards again to the new leader; the command lands once", () => {
    const { cl, l, f } = clusterWithFollower();
    const w = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll(holdTypes("propose")); // the old leader never gets it
    cl.held = [];
    cl.crash(l);
    cl.electLeader();
    cl.tickAll(5);
    expect(cl.result(w)).toMatchObject({ kind: "appended", index: 0 });
    for (const id of cl.upIds()) expect(cl.list(id)).toEqual([10]);
  });

  it("a copy both leaders got is applied once, and the follower answers with its one index", () => {
    const { cl, l, f } = clusterWithFollower();
    const w = cl.propose(f, cmd(1, 1, 10));
    // The old leader gets the Propose and sends its Accept, but nothing comes back before it dies.
    cl.deliverAll((env) => (env.msg.type === "accepted" && env.to === l ? "drop" : env.msg.type === "commit" ? "drop" : "deliver"));
    cl.crash(l);
    cl.electLeader();
    cl.tickAll(5);
    expect(cl.resultsFor(w)).toHaveLength(1);
    expect(cl.result(w)).toMatchObject({ kind: "appended", index: 0 });
    for (const id of cl.upIds()) expect(cl.list(id)).toEqual([10]);
  });

  it("a follower that becomes leader proposes the commands it was forwarding", () => {
    const { cl, l, f } = clusterWithFollower();
    const w = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll(holdTypes("propose"));
    cl.held = [];
    cl.crash(l);
    cl.campaign(f);
    cl.tickAll(3);
    expect(cl.result(w)).toMatchObject({ kind: "appended", index: 0 });
    expect(cl.list(f)).toEqual([10]);
  });

  it("a full leader queue refuses a forwarded command: not_applied, as it was sent once", () => {
    const { cl, l, f } = clusterWithFollower({ maxPending: 2, maxInflight: 1, maxBatch: 1 });
    fillLeader(cl, l);
    const w = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll(holdTypes("accepted"));
    expect(cl.result(w)).toEqual({ kind: "rejected", requestId: w, reason: "overloaded", outcome: "not_applied", leader: l });
  });

  it("a refusal after a second copy was sent says unknown: the first may still land", () => {
    const { cl, l, f } = clusterWithFollower({ maxPending: 2, maxInflight: 1, maxBatch: 1, resendTicks: 10 });
    fillLeader(cl, l);
    const w = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll(holdTypes("accepted", "propose"));
    cl.tickAll(20, holdTypes("accepted", "propose")); // silent: forwarded again
    expect(cl.held.filter((e) => e.msg.type === "propose" && e.from === f).length).toBeGreaterThanOrEqual(2);
    cl.releaseHeld((e) => e.msg.type === "propose");
    cl.deliverAll(holdTypes("accepted"));
    expect(cl.result(w)).toMatchObject({ kind: "rejected", reason: "overloaded", outcome: "unknown" });
  });

  it("a refusal of an older copy, sent for a request that gave up, does not fail the retry's copy", () => {
    const { cl, l, f } = clusterWithFollower({ maxPending: 2, maxInflight: 1, maxBatch: 1 });
    fillLeader(cl, l);
    const r1 = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll(holdTypes("accepted", "proposeRefused")); // copy 1 reaches the full leader; its refusal is late
    cl.core(f).cancel(r1); // r1 timed out
    const r2 = cl.propose(f, cmd(1, 1, 10)); // the client retries
    cl.deliverAll(holdTypes("accepted", "proposeRefused", "propose")); // copy 2 is on its way
    cl.releaseHeld((e) => e.msg.type === "proposeRefused"); // copy 1's refusal arrives
    cl.deliverAll(holdTypes("accepted", "propose"));
    expect(cl.result(r2)).toBeUndefined(); // not "not_applied": copy 2 may still be taken
    cl.releaseHeld(); // the leader's queue drains, then copy 2 arrives
    cl.deliverAll();
    cl.tickAll(3);
    expect(cl.result(r2)).toMatchObject({ kind: "appended" });
    expect(cl.list(f)).toContain(10);
    expect(cl.resultsFor(r1)).toEqual([]); // cancelled: the runtime answered r1 itself
  });

  it("a node that stopped following (a candidate) still lets a second request wait for a command it forwarded", () => {
    const { cl, l, f } = clusterWithFollower();
    const r1 = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll(holdTypes("propose"));
    cl.held = [];
    cl.crash(l);
    // f campaigns; the Promises are held, so it stays a candidate for now.
    const campaignOnly = (env: { from: number; msg: { type: string } }) =>
      env.msg.type === "promise" ? "hold" : (env.msg.type === "prepare" || env.msg.type === "preVote") && env.from !== f ? "drop" : "deliver";
    for (let t = 0; t < 200 && cl.core(f).status().role !== "candidate"; t++) cl.tickAll(1, campaignOnly);
    expect(cl.core(f).status().role).toBe("candidate");
    const r2 = cl.propose(f, cmd(1, 1, 10));
    cl.flush(f);
    expect(cl.result(r2)).toBeUndefined(); // waiting with r1, not refused "not_applied"
    cl.releaseHeld();
    cl.deliverAll();
    cl.electLeader();
    cl.tickAll(5);
    expect(cl.result(r1)).toMatchObject({ kind: "appended", index: 0 });
    expect(cl.result(r2)).toMatchObject({ kind: "appended", index: 0 });
  });

  it("a command older than the client's applied one is refused by the leader as stale (unknown)", () => {
    const { cl, l, f, other } = clusterWithFollower();
    cl.propose(l, cmd(1, 2, 20)); // the client's newer command is applied everywhere but on f
    cl.deliverAll((env) => (env.to === f && (env.msg.type === "accept" || env.msg.type === "commit") ? "drop" : "deliver"));
    expect(cl.list(other)).toEqual([20]);
    const w = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll((env) => (env.to === f && (env.msg.type === "accept" || env.msg.type === "commit") ? "drop" : "deliver"));
    expect(cl.result(w)).toEqual({ kind: "rejected", requestId: w, reason: "stale", outcome: "unknown", leader: l });
  });

  it("a command that reaches the follower inside an installed snapshot is answered from it", () => {
    const { cl, l, f } = clusterWithFollower({ snapshotEvery: 4 });
    const cut = (env: { to: number; msg: { type: string } }) => (env.to === f && env.msg.type !== "proposeRefused" ? "drop" : "deliver");
    const w = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll(cut); // the leader gets the Propose; f hears nothing back
    for (let i = 2; i <= 6; i++) cl.propose(l, cmd(i, 1, i * 10));
    cl.deliverAll(cut);
    expect(cl.core(l).firstLoggedSlot).toBeGreaterThan(0); // compacted past what f lacks
    cl.tickAll(30);
    expect(cl.sent("installSnapshot", { to: f }).length).toBeGreaterThan(0);
    expect(cl.result(w)).toEqual({ kind: "appended", requestId: w, index: 0, duplicate: false });
    expect(cl.list(f)).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it("cancel() stops a follower forwarding a command nobody waits for", () => {
    const { cl, f } = clusterWithFollower({ resendTicks: 10 });
    const w = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll(holdTypes("propose"));
    cl.core(f).cancel(w);
    cl.held = [];
    cl.tickAll(25);
    expect(cl.sent("propose", { from: f })).toHaveLength(1); // the first one only, never again
    expect(cl.list(f)).toEqual([]);
  });

  it("with no leader known a follower refuses at once (not_applied), so the caller waits for an election", () => {
    const cl = new TestCluster(3);
    const w = cl.propose(0, cmd(1, 1, 10));
    cl.flush(0);
    expect(cl.result(w)).toEqual({ kind: "rejected", requestId: w, reason: "not_leader", outcome: "not_applied", leader: null });
  });
});

describe("followers learning from each other's Accepteds (acceptedToAllUpTo)", () => {
  const commitFromLeader = (l: number) => (env: { from: number; msg: { type: string } }) => (env.from === l && env.msg.type === "commit" ? "hold" : "deliver") as "hold" | "deliver";

  it("a follower answers its client before the leader's Commit arrives: its own vote and another follower's make a quorum", () => {
    const { cl, l, f, other } = clusterWithFollower({ acceptedToAllUpTo: 2 });
    const w = cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll(commitFromLeader(l));
    expect(cl.result(w)).toMatchObject({ kind: "appended", index: 0 });
    expect(cl.list(f)).toEqual([10]);
    expect(cl.sent("accepted", { from: other, to: f })).toHaveLength(1);
    expect(cl.sent("accepted", { from: f, to: f })).toHaveLength(1); // its own, released once durable
  });

  it("does not learn while its own vote is not durable: another follower's Accepted alone is no quorum", () => {
    const { cl, l, f, other } = clusterWithFollower({ acceptedToAllUpTo: 2 });
    const w = cl.propose(f, cmd(1, 1, 10));
    // Hold the leader's Commits and its vote, and f's own Accepted to itself (its vote not yet durable).
    cl.deliverAll((env) => ((env.from === l && env.to === f && env.msg.type !== "accept") || (env.from === f && env.to === f && env.msg.type === "accepted") ? "hold" : "deliver"));
    expect(cl.sent("accepted", { from: other, to: f })).toHaveLength(1);
    expect(cl.result(w)).toBeUndefined();
    expect(cl.core(f).commitIndex).toBe(0);
    cl.releaseHeld((env) => env.from === f && env.to === f);
    cl.deliverAll(commitFromLeader(l));
    expect(cl.result(w)).toMatchObject({ kind: "appended", index: 0 });
  });

  it("the leader's vote reaches the followers too: one learns from it and its own, before the other follower votes", () => {
    const { cl, l, f, other } = clusterWithFollower({ acceptedToAllUpTo: 2 });
    const w = cl.propose(f, cmd(1, 1, 10));
    // The other follower never hears the Accept; the leader's Commit is held.
    cl.deliverAll((env) => ((env.from === l && env.msg.type === "commit") || env.to === other ? "hold" : "deliver"));
    expect(cl.sent("accepted", { from: other })).toHaveLength(0);
    expect(cl.sent("accepted", { from: l, to: f })).toHaveLength(1);
    expect(cl.result(w)).toMatchObject({ kind: "appended", index: 0 });
    expect(cl.list(f)).toEqual([10]);
  });

  it("large batches are acknowledged to the leader only, and the leader's Commit still tells everyone", () => {
    const { cl, l, f } = clusterWithFollower({ acceptedToAllUpTo: 2 });
    for (let i = 1; i <= 3; i++) cl.propose(l, cmd(i, 1, i));
    cl.deliverAll();
    expect(cl.sent("accepted").filter((e) => e.to !== l)).toHaveLength(0);
    for (const id of cl.ids) expect(cl.list(id)).toEqual([1, 2, 3]);
    expect(cl.list(f)).toEqual([1, 2, 3]);
  });

  it("off by default: Accepteds go to the leader only", () => {
    const { cl, l, f } = clusterWithFollower();
    cl.propose(f, cmd(1, 1, 10));
    cl.deliverAll();
    expect(cl.sent("accepted").filter((e) => e.to !== l)).toHaveLength(0);
  });

  it("a vote of another ballot for the same slots is not counted with this one", () => {
    const { cl, l, f, other } = clusterWithFollower({ acceptedToAllUpTo: 2 });
    const w = cl.propose(f, cmd(1, 1, 10));
    // Held: the leader's Commit and its vote, and the other follower's vote.
    const holding = (env: Envelope) => (env.from === l && env.to === f && env.msg.type !== "accept") || (env.from === other && env.to === f && env.msg.type === "accepted");
    cl.deliverAll((env) => (holding(env) ? "hold" : "deliver"));
    const own = cl.sent("accepted", { from: f, to: f })[0]!.msg;
    // A stale Accepted for the same slot from an older ballot: it must not complete the quorum.
    cl.inject(other, f, { ...own, ballot: { round: own.ballot.round - 1, node: own.ballot.node } });
    cl.deliverAll(commitFromLeader(l));
    expect(cl.result(w)).toBeUndefined();
    cl.releaseHeld((env) => env.from === other && env.to === f);
    cl.deliverAll(commitFromLeader(l));
    expect(cl.result(w)).toMatchObject({ kind: "appended", index: 0 });
  });
});
