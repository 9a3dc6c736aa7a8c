// Thrifty Phase 2a: a client batch asks only a quorum to vote (the leader,
// for a small batch at low load the followers that forwarded it, then the
// fastest); the other acceptors take the values quietly (no Accepted, so no
// fdatasync of their own) and learn them chosen. A small batch under load
// asks everyone; a batch not chosen within thriftyFallbackTicks too.
import { describe, expect, it } from "vitest";
import { syncNeeded } from "../../src/core/paxos-core.js";
import type { Envelope, PersistRecord } from "../../src/core/types.js";
import { cmd, holdTypes, partition, TestCluster } from "./cluster-harness.js";

const THRIFTY = { acceptedToAllUpTo: 2, thriftyFallbackTicks: 2, maxBatch: 64 };

function proposeMany(cl: TestCluster, node: number, from: number, n: number): number[] {
  const reqs: number[] = [];
  for (let i = 0; i < n; i++) reqs.push(cl.propose(node, cmd(from + i, 1, from + i)));
  return reqs;
}

function acceptsTo(envs: readonly Envelope[], to: number) {
  return envs.flatMap((e) => (e.msg.type === "accept" && e.to === to ? [e.msg] : []));
}

function setUp(overrides = {}) {
  const cl = new TestCluster(3, { ...THRIFTY, ...overrides });
  const l = cl.electLeader();
  cl.tickAll(3);
  cl.deliverAll();
  const [f1, f2] = cl.ids.filter((id) => id !== l) as [number, number];
  return { cl, l, f1, f2 };
}

describe("thrifty Accepts", () => {
  it("a large batch asks the leader and one follower to vote; the quiet one learns it all the same", () => {
    const { cl, l, f1, f2 } = setUp();
    const before = cl.trace.length;
    const reqs = proposeMany(cl, l, 1, 5);
    cl.deliverAll();
    const accepts = cl.trace.slice(before).filter((e) => e.msg.type === "accept" && e.to !== l);
    expect(accepts).toHaveLength(2); // both followers get the values
    const quiet = accepts.map((e) => (e.msg.type === "accept" ? e.msg.quiet : undefined));
    expect(quiet[0]).toHaveLength(1);
    expect(quiet[1]).toEqual(quiet[0]);
    const silent = quiet[0]![0]!;
    expect([f1, f2]).toContain(silent);
    const voters = cl.trace.slice(before).filter((e) => e.msg.type === "accepted").map((e) => e.from);
    expect(new Set(voters)).toEqual(new Set([l, f1, f2].filter((id) => id !== silent)));
    for (const r of reqs) expect(cl.result(r)).toMatchObject({ kind: "appended" });
    cl.tickAll(2);
    for (const id of cl.ids) expect(cl.list(id)).toEqual([1, 2, 3, 4, 5]);
  });

  it("the quiet acceptor's Ready needs no fdatasync; a voter's does", () => {
    const { cl, l, f1, f2 } = setUp();
    proposeMany(cl, l, 1, 5);
    const out = cl.flush(l).messages;
    const [a1, a2] = [acceptsTo(out, f1)[0]!, acceptsTo(out, f2)[0]!];
    const silent = a1.quiet![0]!;
    for (const [id, accept] of [[f1, a1], [f2, a2]] as const) {
      cl.core(id).step(l, accept);
      const rd = cl.core(id).ready();
      expect(rd.persist.map((r) => r.type)).toContain("accepted"); // both keep the values
      const votes = rd.messages.filter((e) => e.msg.type === "accepted");
      expect(votes).toHaveLength(id === silent ? 0 : 1);
      expect(syncNeeded(rd)).toBe(id !== silent);
    }
  });

  it("a small batch after another small one asks the follower that forwarded it, which learns it from its vote and the leader's", () => {
    const { cl, l, f1, f2 } = setUp();
    const first = cl.propose(l, cmd(100, 1, 0));
    cl.deliverAll(); // the first small batch (nothing small before it) asks everyone: see the next test
    expect(cl.result(first)).toMatchObject({ kind: "appended", index: 0 });
    // f2's client first, then f1's: each time the other follower is the quiet one, whichever voted first before.
    for (const [via, other, n] of [[f2, f1, 1], [f1, f2, 2]] as const) {
      const before = cl.trace.length;
      const req = cl.propose(via, cmd(n, 1, n));
      cl.deliverAll();
      const accepts = cl.trace.slice(before).filter((e) => e.msg.type === "accept" && e.to !== l);
      expect(accepts.map((e) => (e.msg.type === "accept" ? e.msg.quiet : undefined))).toEqual([[other], [other]]);
      const voters = cl.trace.slice(before).filter((e) => e.msg.type === "accepted").map((e) => e.from);
      expect(new Set(voters)).toEqual(new Set([l, via]));
      expect(cl.result(req)).toMatchObject({ kind: "appended", index: n });
    }
    cl.tickAll(2);
    for (const id of cl.ids) expect(cl.list(id)).toEqual([0, 1, 2]);
  });

  it("a small batch under load asks everyone: after a large one, or with another in flight", () => {
    const { cl, l, f1, f2 } = setUp();
    proposeMany(cl, l, 1, 5);
    const silent = acceptsTo(cl.flush(l).messages, f1)[0]!.quiet![0]!;
    cl.deliverAll();
    const votersSince = (at: number) => new Set(cl.trace.slice(at).filter((e) => e.msg.type === "accepted").map((e) => e.from));
    // After a large batch, into an idle pipeline: a small one forwarded by the follower that was quiet.
    let before = cl.trace.length;
    const afterLarge = cl.propose(silent, cmd(20, 1, 20));
    cl.deliverAll();
    for (const f of [f1, f2]) expect(acceptsTo(cl.trace.slice(before), f)[0]!.quiet).toBeUndefined();
    expect(votersSince(before)).toEqual(new Set([l, f1, f2]));
    expect(cl.result(afterLarge)).toMatchObject({ kind: "appended", index: 5 });
    // After that small one, but with another small one in flight (its Accepts held).
    const held = holdTypes("accept");
    before = cl.trace.length;
    const inFlight = cl.propose(l, cmd(21, 1, 21));
    cl.deliverAll(held);
    const second = cl.propose(silent, cmd(22, 1, 22));
    cl.deliverAll(held);
    const accepts = cl.held.filter((e) => e.msg.type === "accept" && e.msg.fromSlot === 7 && e.to !== l);
    expect(accepts).toHaveLength(2); // the second batch went out with the first still in flight
    for (const e of accepts) expect(e.msg.type === "accept" && e.msg.quiet).toBeUndefined();
    cl.releaseHeld();
    cl.deliverAll();
    expect(cl.result(inFlight)).toMatchObject({ kind: "appended", index: 6 });
    expect(cl.result(second)).toMatchObject({ kind: "appended", index: 7 });
    expect(votersSince(before)).toEqual(new Set([l, f1, f2]));
  });

  it("a large batch asks the follower whose vote completed the last one, even when the other forwarded it", () => {
    const { cl, l, f1 } = setUp();
    proposeMany(cl, l, 1, 5);
    const first = cl.flush(l).messages;
    const silent = acceptsTo(first, f1)[0]!.quiet![0]!;
    cl.deliverAll();
    const before = cl.trace.length;
    const reqs = proposeMany(cl, silent, 10, 5); // forwarded by the follower that was quiet
    cl.deliverAll();
    const accepts = cl.trace.slice(before).filter((e) => e.msg.type === "accept" && e.to !== l);
    expect(accepts.length).toBeGreaterThan(0);
    for (const e of accepts) expect(e.msg.type === "accept" && e.msg.quiet).toEqual([silent]);
    for (const r of reqs) expect(cl.result(r)).toMatchObject({ kind: "appended" });
  });

  it("is off with thriftyFallbackTicks 0", () => {
    const { cl, l } = setUp({ thriftyFallbackTicks: 0 });
    const before = cl.trace.length;
    proposeMany(cl, l, 1, 5);
    cl.deliverAll();
    for (const e of cl.trace.slice(before)) if (e.msg.type === "accept") expect(e.msg.quiet).toBeUndefined();
    expect(cl.trace.slice(before).filter((e) => e.msg.type === "accepted")).toHaveLength(3);
  });

  it("when the follower it asked is cut off, the batch asks everyone after thriftyFallbackTicks, and the next one asks the follower that answered", () => {
    const { cl, l, f1, f2 } = setUp();
    const commitBefore = cl.core(l).commitIndex;
    proposeMany(cl, l, 1, 5);
    const out = cl.flush(l).messages;
    const silent = acceptsTo(out, f1)[0]!.quiet![0]!;
    const asked = silent === f1 ? f2 : f1;
    // flush() put the Accepts on the wire; cut the asked follower off before they arrive.
    cl.filter = partition([l, silent], [asked]);
    cl.deliverAll();
    expect(cl.core(l).commitIndex).toBe(commitBefore); // nothing chosen: only the leader voted, the quiet one did not
    cl.tickAll(1);
    cl.deliverAll();
    expect(cl.core(l).commitIndex).toBe(commitBefore); // one tick: still waiting for the follower it asked
    const before = cl.trace.length;
    cl.tickAll(1);
    cl.deliverAll();
    const again = cl.trace.slice(before).filter((e) => e.msg.type === "accept" && e.to === silent);
    expect(again).toHaveLength(1);
    expect(again[0]!.msg.type === "accept" && again[0]!.msg.quiet).toBeFalsy(); // now everyone votes
    expect(cl.core(l).commitIndex).toBe(commitBefore + 5);
    expect(cl.core(l).thriftyFallbacks).toBe(1);
    // The next large batch asks the follower whose vote completed the last one.
    const next = cl.trace.length;
    proposeMany(cl, l, 10, 4);
    cl.deliverAll();
    const nextAccept = cl.trace.slice(next).find((e) => e.msg.type === "accept" && e.to === silent)!;
    expect(nextAccept.msg.type === "accept" && nextAccept.msg.quiet).toEqual([asked]);
    expect(cl.core(l).commitIndex).toBe(commitBefore + 9);
  });

  it("a quiet acceptor that loses what it took in a crash (never synced) catches up", () => {
    const { cl, l, f1, f2 } = setUp();
    proposeMany(cl, l, 1, 5);
    const out = cl.flush(l).messages;
    const silent = acceptsTo(out, f1)[0]!.quiet![0]!;
    cl.deliverAll();
    expect(cl.list(l)).toEqual([1, 2, 3, 4, 5]);
    // The harness keeps every record; a node's runtime writes these without an fdatasync (syncNeeded),
    // so a crash may lose them: take them away, and what they led to (the chosen record), by hand.
    cl.crash(silent);
    const lost = (r: PersistRecord) => (r.type === "accepted" || r.type === "chosen") && r.values.length === 5;
    expect(cl.durable[silent]!.filter((r) => r.type === "accepted" && lost(r))).toHaveLength(1);
    const kept = cl.durable[silent]!.filter((r) => !lost(r));
    cl.durable[silent]!.splice(0, cl.durable[silent]!.length, ...kept);
    cl.restart(silent);
    expect(cl.list(silent)).toEqual([]);
    cl.tickAll(30);
    cl.deliverAll();
    for (const id of [l, f1, f2]) expect(cl.list(id)).toEqual([1, 2, 3, 4, 5]);
  });
});
