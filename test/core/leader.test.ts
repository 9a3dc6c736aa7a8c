// Proposer / leader rules: recovery after a won phase 1, batching, linearizable
// reads and stepping down. Recovery is driven by hand on a single core; the rest
// uses the in-memory TestCluster.
import { describe, expect, it } from "vitest";
import { NO_BALLOT } from "../../src/core/ballot.js";
import { PaxosCore } from "../../src/core/paxos-core.js";
import type { Ballot, Envelope, Message, SlotVote, Value } from "../../src/core/types.js";
import { cmd, cmdValue, holdTypes, partition, TestCluster, testConfig } from "./cluster-harness.js";

const b = (round: number, node: number): Ballot => ({ round, node });
const v = (payload: number): Value => cmdValue(cmd(100 + payload, 1, payload));
const NOOP: Value = { kind: "noop" };
const vote = (slot: number, ballot: Ballot, value: Value, chosen = false): SlotVote => ({ slot, ballot, value, chosen });

/**
 * Ticks a follower until it asks for pre-votes (within electionTicksMax
 * ticks), grants it node 1's pre-vote, and checks that it then campaigns.
 */
function tickUntilCandidate(c: PaxosCore, electionTicksMax = 20): void {
  for (let i = 0; i < electionTicksMax; i++) {
    c.tick();
    const preVote = c.ready().messages.find((e) => e.msg.type === "preVote");
    if (preVote === undefined) continue;
    expect(c.status().role).toBe("follower"); // a pre-vote raises no ballot
    const ballot = (preVote.msg as Extract<Message, { type: "preVote" }>).ballot;
    c.step(1, { type: "preVoteReply", ballot, granted: true, promised: NO_BALLOT });
    expect(c.status().role).toBe("candidate");
    return;
  }
  throw new Error("did not ask for pre-votes within electionTicksMax ticks");
}

/** Node 0 of 3 as a candidate; it first saw round 5 (a Prepare from node 2), so it campaigns with 6.0. */
function candidate(): PaxosCore {
  const c = new PaxosCore(testConfig(0, 3));
  c.step(2, { type: "prepare", ballot: b(5, 2), fromSlot: 0 });
  c.ready();
  tickUntilCandidate(c);
  expect(c.status().ownBallot).toEqual(b(6, 0));
  const r = c.ready();
  // The Prepare goes to every peer (the core defers its own acceptor's promise
  // until the peers' promises could make a majority with it).
  expect(r.messages.filter((e) => e.to !== 0).map((e) => [e.to, e.msg])).toEqual(
    [1, 2].map((to) => [to, { type: "prepare", ballot: b(6, 0), fromSlot: 0 }]),
  );
  return c;
}

const promise = (votes: SlotVote[], commitIndex = 0, fromSlot = 0): Message => ({
  type: "promise",
  ballot: b(6, 0),
  fromSlot,
  votes,
  commitIndex,
});

const acceptsOf = (msgs: readonly Envelope[]) =>
  msgs.filter((e): e is Envelope & { msg: Extract<Message, { type: "accept" }> } => e.msg.type === "accept");

describe("leader recovery (phase 2a after phase 1)", () => {
  // "Paxos Made Simple" sec 2.2 (phase 2a) and sec 3 / Chand et al. 2016 Fig. 1
  // phase2a: for every slot, propose the value of the highest-ballot vote among
  // a majority of promises; a slot nobody voted for below the highest reported
  // slot is filled with a no-op.
  it("re-proposes the highest-ballot value per slot and fills gaps with no-ops", () => {
    const c = candidate();

    // Slot 0: node 1's vote is higher; slot 2: node 2's vote is higher (order of promises must not matter).
    c.step(1, promise([vote(0, b(4, 1), v(10)), vote(2, b(2, 1), v(20))]));
    expect(c.status().role).toBe("candidate"); // one promise is not a majority of 3
    expect(acceptsOf(c.ready().messages)).toEqual([]);
    c.step(2, promise([vote(0, b(3, 2), v(11)), vote(2, b(5, 2), v(21)), vote(3, b(5, 2), v(30))]));
    expect(c.status().role).toBe("leader");

    const r = c.ready();
    const accepts = acceptsOf(r.messages);
    expect(accepts.map((e) => e.to)).toEqual([0, 1, 2]);
    for (const e of accepts) {
      expect(e.msg).toEqual({
        type: "accept",
        ballot: b(6, 0),
        fromSlot: 0,
        values: [v(10), NOOP, v(21), v(30)],
        commitIndex: 0,
      });
    }
    // Recovered values are not client commands: nobody gets an answer for them.
    expect(r.results).toEqual([]);
  });

  // Chand et al. 2016 Fig. 1 learn + phase2a: a value known chosen is kept even
  // though it is reported with NO_BALLOT (its ballot is irrelevant), and even if
  // another acceptor reports a different, unchosen vote for that slot.
  it("a vote reported as chosen wins over any accepted vote for that slot", () => {
    const c = candidate();
    c.step(1, promise([vote(0, NO_BALLOT, v(1), true)], 1));
    c.step(2, promise([vote(0, b(2, 2), v(9)), vote(1, b(2, 2), v(2))]));
    expect(c.status().role).toBe("leader");
    const r = c.ready();
    expect(r.applied).toEqual([{ slot: 0, value: v(1) }]);
    expect(r.persist).toContainEqual({ type: "chosen", fromSlot: 0, values: [v(1)] });
    expect(c.commitIndex).toBe(1);
    expect([...c.list.values]).toEqual([1]);
    const accepts = acceptsOf(r.messages);
    expect(accepts.length).toBe(3);
    for (const e of accepts) {
      expect(e.msg).toEqual({ type: "accept", ballot: b(6, 0), fromSlot: 1, values: [v(2)], commitIndex: 1 });
    }
  });

  it("ignores promises for another ballot", () => {
    const c = candidate();
    c.step(1, { ...promise([]), ballot: b(5, 2) } as Message);
    c.step(2, { ...promise([]), ballot: b(6, 1) } as Message);
    expect(c.status().role).toBe("candidate");
  });

  it("a won election with no votes sends no recovery Accept", () => {
    const c = candidate();
    c.step(1, promise([]));
    c.step(2, promise([]));
    expect(c.status().role).toBe("leader");
    const r = c.ready();
    expect(acceptsOf(r.messages)).toEqual([]);
    expect(r.messages.filter((e) => e.msg.type === "heartbeat").map((e) => [e.to, e.msg])).toEqual([
      [1, { type: "heartbeat", ballot: b(6, 0), commitIndex: 0, seq: 1 }],
      [2, { type: "heartbeat", ballot: b(6, 0), commitIndex: 0, seq: 1 }],
    ]);
  });
});

describe("batching", () => {
  // Multi-Paxos runs phase 2 for many slots at once ("Paxos Made Simple" sec 3:
  // the leader may propose commands for several instances concurrently); here
  // every proposal queued before one ready() goes out in a single Accept.
  it("several proposals made before one ready() travel in one Accept message", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    const start = cl.core(l).commitIndex;
    const reqs = [cl.propose(l, cmd(1, 1, 10)), cl.propose(l, cmd(2, 1, 20)), cl.propose(l, cmd(3, 1, 30))];
    const r = cl.flush(l);
    const accepts = acceptsOf(r.messages);
    expect(accepts.map((e) => e.to)).toEqual([l, ...cl.ids.filter((id) => id !== l)]);
    for (const e of accepts) {
      expect(e.msg.fromSlot).toBe(start);
      expect(e.msg.values).toEqual([cmdValue(cmd(1, 1, 10)), cmdValue(cmd(2, 1, 20)), cmdValue(cmd(3, 1, 30))]);
    }
    cl.deliverAll();
    expect(reqs.map((id) => cl.result(id))).toEqual([
      { kind: "appended", requestId: reqs[0], index: 0, duplicate: false },
      { kind: "appended", requestId: reqs[1], index: 1, duplicate: false },
      { kind: "appended", requestId: reqs[2], index: 2, duplicate: false },
    ]);
    expect(cl.list(l)).toEqual([10, 20, 30]);
    // Followers learn the commit point from the next heartbeat.
    cl.tickAll(2);
    for (const id of cl.ids) expect(cl.list(id)).toEqual([10, 20, 30]);
  });

  it("a batch holds at most maxBatch commands and at most maxInflight batches are in flight", () => {
    const cl = new TestCluster(3, { maxBatch: 2, maxInflight: 2 });
    const l = cl.electLeader();
    const reqs = [1, 2, 3, 4, 5, 6, 7].map((p) => cl.propose(l, cmd(p, 1, p)));
    const r = cl.flush(l);
    const toSelf = acceptsOf(r.messages).filter((e) => e.to === l);
    expect(toSelf.map((e) => [e.msg.fromSlot, e.msg.values.length])).toEqual([
      [0, 2],
      [2, 2],
    ]);
    cl.deliverAll();
    const toSelfAll = cl.sent("accept", { from: l, to: l });
    expect(toSelfAll.map((e) => [e.msg.fromSlot, e.msg.values.length])).toEqual([
      [0, 2],
      [2, 2],
      [4, 2],
      [6, 1],
    ]);
    expect(reqs.map((id) => (cl.result(id) as { index: number }).index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    cl.tickAll(2);
    for (const id of cl.ids) expect(cl.list(id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("while a batch is in flight, another goes out only once minPipelinedBatch commands wait", () => {
    const cl = new TestCluster(3, { maxBatch: 8, maxInflight: 4, minPipelinedBatch: 3 });
    const l = cl.electLeader();
    cl.propose(l, cmd(1, 1, 1));
    const first = acceptsOf(cl.flush(l).messages).filter((e) => e.to === l);
    expect(first.map((e) => [e.msg.fromSlot, e.msg.values.length])).toEqual([[cl.core(l).commitIndex, 1]]); // idle: at once
    cl.propose(l, cmd(2, 1, 2));
    cl.propose(l, cmd(3, 1, 3));
    expect(acceptsOf(cl.flush(l).messages)).toEqual([]); // two wait behind the batch in flight
    cl.propose(l, cmd(4, 1, 4));
    const third = acceptsOf(cl.flush(l).messages).filter((e) => e.to === l);
    expect(third.map((e) => e.msg.values.length)).toEqual([3]); // the third makes a batch worth pipelining
    cl.deliverAll();
    cl.tickAll(2);
    for (const id of cl.ids) expect(cl.list(id)).toEqual([1, 2, 3, 4]);
  });
});

describe("linearizable reads", () => {
  // Read-index technique: a read is linearizable if the leader confirms, after
  // the read arrived, that a majority still accepts its ballot (so no higher
  // ballot has been promised by a majority, PMS sec 2.2) and every slot below
  // its next slot is applied.
  it("read() on the leader answers only after a majority acknowledged a heartbeat sent after the read", () => {
    const cl = new TestCluster(5);
    const l = cl.electLeader();
    const [p1, p2, p3, p4] = cl.ids.filter((id) => id !== l) as [number, number, number, number];
    cl.propose(l, cmd(1, 1, 42));
    cl.deliverAll();
    const ballot = cl.core(l).status().ownBallot!;

    // Acks to heartbeats sent before the read do not count.
    const oldSeq = Math.max(...cl.sent("heartbeat", { from: l }).map((e) => e.msg.seq));
    const rid = cl.read(l);
    cl.inject(p1, l, { type: "heartbeatAck", ballot, seq: oldSeq, commitIndex: 1 });
    cl.inject(p2, l, { type: "heartbeatAck", ballot, seq: oldSeq, commitIndex: 1 });
    const r = cl.flush(l);
    expect(r.results).toEqual([]);
    // The read triggered a fresh heartbeat at once.
    const hbs = r.messages.filter((e) => e.msg.type === "heartbeat");
    expect(hbs.map((e) => e.to)).toEqual([p1, p2, p3, p4]);
    expect(hbs.map((e) => e.msg)).toEqual(hbs.map(() => ({ type: "heartbeat", ballot, commitIndex: 1, seq: oldSeq + 1 })));

    // Self + one follower = 2 of 5: not yet.
    const only = (...ok: number[]) => (e: Envelope) => (ok.includes(e.to) || ok.includes(e.from) ? "deliver" : "hold");
    cl.deliverAll(only(p1));
    expect(cl.result(rid)).toBeUndefined();
    // Self + two followers = 3 of 5: answered, with the length at that point.
    cl.releaseHeld();
    cl.deliverAll(only(p1, p2));
    expect(cl.result(rid)).toEqual({ kind: "read", requestId: rid, length: 1 });
    cl.releaseHeld();
    cl.deliverAll();
    expect(cl.resultsFor(rid).length).toBe(1);
  });

  it("read() waits until every slot assigned before the read is applied", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    const w = cl.propose(l, cmd(1, 1, 7));
    cl.flush(l); // the Accept is on the wire
    const rid = cl.read(l);
    // Heartbeats and acks go through, but the Accepted votes are held back.
    cl.deliverAll(holdTypes("accepted"));
    expect(cl.result(w)).toBeUndefined();
    expect(cl.result(rid)).toBeUndefined();
    cl.releaseHeld();
    cl.deliverAll();
    // The write is answered first, and the read sees it.
    expect(cl.results[l]).toEqual([
      { kind: "appended", requestId: w, index: 0, duplicate: false },
      { kind: "read", requestId: rid, length: 1 },
    ]);
  });

  it("read() on a follower is rejected with reason not_leader and a leader hint", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    const f = cl.ids.find((id) => id !== l)!;
    const rid = cl.read(f);
    cl.flush(f);
    expect(cl.result(rid)).toEqual({ kind: "rejected", requestId: rid, reason: "not_leader", outcome: "not_applied", leader: l });
  });

  it("a deposed leader in a minority never answers a read; it is rejected when the leader steps down", () => {
    const cl = new TestCluster(5);
    const old = cl.electLeader();
    const others = cl.ids.filter((id) => id !== old);
    const minority = [old, others[0]!];
    const majority = others.slice(1);
    cl.filter = partition(minority, majority);
    // The majority side elects its own leader while the old one still believes it leads.
    let fresh: number | undefined;
    for (let t = 0; t < 200 && fresh === undefined; t++) {
      cl.tickAll(1);
      fresh = majority.find((id) => cl.core(id).status().role === "leader");
    }
    expect(fresh).toBeDefined();
    const w = cl.propose(fresh!, cmd(1, 1, 5));
    cl.deliverAll();
    expect(cl.result(w)).toEqual({ kind: "appended", requestId: w, index: 0, duplicate: false });

    if (cl.core(old).status().role === "leader") {
      const rid = cl.read(old);
      cl.tickAll(5);
      expect(cl.result(rid)).toBeUndefined();
      cl.tickAll(40); // check-quorum makes it step down
      expect(cl.core(old).status().role).not.toBe("leader");
      expect(cl.result(rid)).toEqual({ kind: "rejected", requestId: rid, reason: "not_leader", outcome: "not_applied", leader: null });
    } else {
      throw new Error("test setup: the old leader should still believe it leads");
    }
  });
});

describe("stepping down", () => {
  // "Paxos Made Simple" sec 2.2: a proposer that learns of a higher-numbered
  // prepare should abandon its proposal. Commands already sent in an Accept may
  // still be chosen by a later leader (outcome unknown); queued ones never will
  // (outcome not_applied).
  it("a leader that hears a higher ballot (Nack) steps down; sent waiters get unknown, unsent ones not_applied", () => {
    const cl = new TestCluster(3, { maxInflight: 1 });
    const l = cl.electLeader();
    const [a, c] = cl.ids.filter((id) => id !== l) as [number, number];
    const own = cl.core(l).status().ownBallot!;
    expect(own.node).toBe(l);

    const sent = cl.propose(l, cmd(1, 1, 1));
    expect(acceptsOf(cl.flush(l).messages).length).toBe(3);
    const unsent = cl.propose(l, cmd(2, 1, 2)); // the window (maxInflight 1) is full
    expect(acceptsOf(cl.flush(l).messages)).toEqual([]);

    // An acceptor that promised a higher ballot answers l's Accept with this Nack
    // (acceptor.test.ts checks that it does); here it reaches l, the Accepts are lost.
    const higher = b(own.round + 1, c);
    cl.queue = [];
    cl.inject(a, l, { type: "nack", ballot: own, promised: higher });
    cl.flush(l);

    expect(cl.core(l).status().role).toBe("follower");
    expect(cl.results[l]).toEqual([
      { kind: "rejected", requestId: sent, reason: "not_leader", outcome: "unknown", leader: null },
      { kind: "rejected", requestId: unsent, reason: "not_leader", outcome: "not_applied", leader: null },
    ]);
    // And a new proposal is refused outright.
    const late = cl.propose(l, cmd(3, 1, 3));
    cl.flush(l);
    expect(cl.result(late)).toEqual({ kind: "rejected", requestId: late, reason: "not_leader", outcome: "not_applied", leader: null });
  });

  // Leader stickiness: refusing a Prepare is always safe (PMS sec 2.2: an
  // acceptor may ignore any request); while a leader still hears a majority it
  // does not let another node's Prepare depose it.
  it("a leader that still hears a majority ignores another node's Prepare", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    const other = cl.ids.find((id) => id !== l)!;
    const own = cl.core(l).status().ownBallot!;
    const w = cl.propose(l, cmd(1, 1, 1));
    cl.flush(l);
    cl.queue = [];
    cl.inject(other, l, { type: "prepare", ballot: b(own.round + 1, other), fromSlot: 0 });
    const r = cl.flush(l);
    expect(r).toEqual({ persist: [], messages: [], results: [], applied: [], membership: null });
    expect(cl.core(l).status()).toMatchObject({ role: "leader", promised: own });
    expect(cl.resultsFor(w)).toEqual([]);
  });

  // PMS sec 2.2 phase 1b: once the leader has not heard a majority for
  // electionTicksMin ticks, a higher Prepare is promised (durably, in the same
  // Ready) and the leader steps down; its sent command's outcome is unknown.
  it("a leader that no longer hears a majority promises a higher Prepare and steps down", () => {
    // 5 nodes: the Prepare itself counts as hearing from its sender (lastHeardTick is
    // refreshed before the stickiness check), so in a 3-node cluster leader + candidate
    // would already look like a majority and the Prepare would be ignored.
    const cl = new TestCluster(5);
    const l = cl.electLeader();
    const other = cl.ids.find((id) => id !== l)!;
    const own = cl.core(l).status().ownBallot!;
    const w = cl.propose(l, cmd(1, 1, 1));
    // Only l's own acceptor gets the Accept: every other message is lost from now on.
    cl.deliverAll((e) => (e.from === l && e.to === l ? "deliver" : "drop"));
    // 10 silent ticks (electionTicksMin), fewer than check-quorum's 20: still leader.
    for (let i = 0; i < 10; i++) cl.core(l).tick();
    cl.flush(l);
    cl.queue = [];
    expect(cl.core(l).status().role).toBe("leader");

    cl.inject(other, l, { type: "prepare", ballot: b(own.round + 1, other), fromSlot: 0 });
    const r = cl.flush(l);
    expect(cl.core(l).status().role).toBe("follower");
    expect(r.persist).toEqual([{ type: "promised", ballot: b(own.round + 1, other) }]);
    expect(r.messages).toEqual([
      { from: l, to: other, msg: { type: "promise", ballot: b(own.round + 1, other), fromSlot: 0, votes: [{ slot: 0, ballot: own, value: cmdValue(cmd(1, 1, 1)), chosen: false }], commitIndex: 0 } },
    ]);
    expect(r.results).toEqual([{ kind: "rejected", requestId: w, reason: "not_leader", outcome: "unknown", leader: null }]);
  });
});
