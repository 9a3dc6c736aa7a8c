// Acceptor rules of the core, driven by hand on a single PaxosCore (node 1 of
// a 3-node cluster): every input is a message we build, every output is read
// straight from ready().
//
// The core has leader stickiness: while a follower's leader is recently alive
// it ignores Prepares from other nodes (refusing to promise is always safe).
// So every Prepare below comes either when no leader is known or from the
// current leader itself; stickiness itself is covered in leader.test.ts.
import { describe, expect, it } from "vitest";
import { NO_BALLOT } from "../../src/core/ballot.js";
import { PaxosCore } from "../../src/core/paxos-core.js";
import type { Ballot, Message, PersistRecord, Value } from "../../src/core/types.js";
import { cmd, cmdValue, testConfig } from "./cluster-harness.js";

const b = (round: number, node: number): Ballot => ({ round, node });
const v = (payload: number): Value => cmdValue(cmd(100 + payload, 1, payload));
const NOOP: Value = { kind: "noop" };

function acceptor(records: PersistRecord[] = []): PaxosCore {
  return new PaxosCore(testConfig(1, 3), records);
}

const prepare = (ballot: Ballot, fromSlot = 0): Message => ({ type: "prepare", ballot, fromSlot });
const accept = (ballot: Ballot, fromSlot: number, values: Value[], commitIndex = 0): Message => ({
  type: "accept",
  ballot,
  fromSlot,
  values,
  commitIndex,
});

describe("acceptor: Prepare (phase 1b)", () => {
  // "Paxos Made Simple" sec 2.2 (phase 1b) / Chand et al. 2016 Fig. 1 phase1b:
  // an acceptor answers a prepare(n) with a promise only if n is at least its
  // highest promise; the promise must be stable storage before it is sent.
  it("persists a promised record for a higher ballot in the same Ready as the Promise", () => {
    const a = acceptor();
    a.step(0, prepare(b(2, 0)));
    const r = a.ready();
    expect(r.persist).toEqual([{ type: "promised", ballot: b(2, 0) }]);
    expect(r.messages).toEqual([
      { from: 1, to: 0, msg: { type: "promise", ballot: b(2, 0), fromSlot: 0, votes: [], commitIndex: 0 } },
    ]);
    expect(r.results).toEqual([]);
    expect(a.status().promised).toEqual(b(2, 0));

    // The record alone is enough to rebuild the promise after a crash.
    expect(acceptor([...r.persist]).status().promised).toEqual(b(2, 0));
  });

  // PMS sec 2.2: the promise is "never again accept a proposal numbered less than n";
  // Chand Fig. 1 phase1b guard: b > maxbal (here >=, so a repeated prepare is re-answered).
  it("refuses (Nack) a Prepare with a lower ballot than promised and persists nothing", () => {
    const a = acceptor();
    a.step(2, prepare(b(3, 2)));
    a.ready();

    a.step(0, prepare(b(3, 0))); // same round, lower node
    a.step(0, prepare(b(2, 0))); // lower round
    const r = a.ready();
    expect(r.persist).toEqual([]);
    expect(r.messages).toEqual([
      { from: 1, to: 0, msg: { type: "nack", ballot: b(3, 0), promised: b(3, 2) } },
      { from: 1, to: 0, msg: { type: "nack", ballot: b(2, 0), promised: b(3, 2) } },
    ]);
    expect(a.status().promised).toEqual(b(3, 2));
  });

  it("answers a repeated Prepare with the same ballot again, without a new record", () => {
    const a = acceptor();
    a.step(2, prepare(b(3, 2)));
    a.ready();
    a.step(2, prepare(b(3, 2)));
    const r = a.ready();
    expect(r.persist).toEqual([]);
    expect(r.messages).toEqual([
      { from: 1, to: 2, msg: { type: "promise", ballot: b(3, 2), fromSlot: 0, votes: [], commitIndex: 0 } },
    ]);
  });
});

describe("acceptor: Accept (phase 2b)", () => {
  // PMS sec 2.2 (phase 2b) / Chand Fig. 1 phase2b: an acceptor accepts
  // accept(n, v) unless it has promised a ballot higher than n.
  it("refuses an Accept with a lower ballot than promised, accepts equal and higher ones", () => {
    const a = acceptor();
    a.step(0, prepare(b(3, 0)));
    a.ready();

    // Lower: Nack, nothing persisted, nothing voted.
    a.step(2, accept(b(2, 2), 0, [v(9)]));
    let r = a.ready();
    expect(r.persist).toEqual([]);
    expect(r.messages).toEqual([{ from: 1, to: 2, msg: { type: "nack", ballot: b(2, 2), promised: b(3, 0) } }]);

    // Equal: an accepted record and an accepted message in the same Ready.
    a.step(0, accept(b(3, 0), 0, [v(1), v(2)]));
    r = a.ready();
    expect(r.persist).toEqual([{ type: "accepted", ballot: b(3, 0), fromSlot: 0, values: [v(1), v(2)] }]);
    expect(r.messages).toEqual([{ from: 1, to: 0, msg: { type: "accepted", ballot: b(3, 0), fromSlot: 0, count: 2 } }]);

    // Higher, never prepared: accepted too, and it raises the promise.
    a.step(2, accept(b(4, 2), 2, [v(3)]));
    r = a.ready();
    expect(r.persist).toEqual([{ type: "accepted", ballot: b(4, 2), fromSlot: 2, values: [v(3)] }]);
    expect(r.messages).toEqual([{ from: 1, to: 2, msg: { type: "accepted", ballot: b(4, 2), fromSlot: 2, count: 1 } }]);
    expect(a.status().promised).toEqual(b(4, 2));

    // ... so the old leader's Accept is now refused.
    a.step(0, accept(b(3, 0), 3, [v(4)]));
    r = a.ready();
    expect(r.persist).toEqual([]);
    expect(r.messages).toEqual([{ from: 1, to: 0, msg: { type: "nack", ballot: b(3, 0), promised: b(4, 2) } }]);

    // The votes are exactly the accepted ones: the refused values left no trace.
    // (Asked by node 2, the leader this acceptor now follows.)
    a.step(2, prepare(b(5, 2)));
    r = a.ready();
    expect(r.messages).toEqual([
      {
        from: 1,
        to: 2,
        msg: {
          type: "promise",
          ballot: b(5, 2),
          fromSlot: 0,
          votes: [
            { slot: 0, ballot: b(3, 0), value: v(1), chosen: false },
            { slot: 1, ballot: b(3, 0), value: v(2), chosen: false },
            { slot: 2, ballot: b(4, 2), value: v(3), chosen: false },
          ],
          commitIndex: 0,
        },
      },
    ]);
  });

  // PMS sec 2.2: a later accept(n', v') in a higher ballot replaces the vote
  // for that slot; the Promise reports the most recent (highest) one.
  it("a higher-ballot Accept replaces the earlier vote for the same slot", () => {
    const a = acceptor();
    a.step(0, accept(b(1, 0), 0, [v(1)]));
    a.step(2, accept(b(2, 2), 0, [v(2)]));
    a.ready();
    a.step(2, prepare(b(3, 2))); // from the current leader
    const r = a.ready();
    expect(r.messages[0]!.msg).toEqual({
      type: "promise",
      ballot: b(3, 2),
      fromSlot: 0,
      votes: [{ slot: 0, ballot: b(2, 2), value: v(2), chosen: false }],
      commitIndex: 0,
    });
  });
});

describe("acceptor: Promise contents", () => {
  // Chand et al. 2016 Fig. 1 phase1b sends the acceptor's votes; Multi-Paxos
  // prepares once for all slots from the first not-known-chosen one, so the
  // promise carries only votes at or above the prepare's fromSlot (no message
  // grows with history).
  it("a Promise carries only votes at or above the prepare's fromSlot", () => {
    const a = acceptor();
    a.step(0, accept(b(1, 0), 0, [v(0), v(1), v(2)]));
    // The leader's commitIndex 2 tells us slots 0 and 1 (accepted in its own ballot) are chosen.
    a.step(0, accept(b(1, 0), 3, [v(3), NOOP], 2));
    let r = a.ready();
    expect(a.commitIndex).toBe(2);
    expect(r.applied).toEqual([
      { slot: 0, value: v(0) },
      { slot: 1, value: v(1) },
    ]);
    expect(r.persist).toContainEqual({ type: "chosen", fromSlot: 0, values: [v(0), v(1)] });

    const votesFor = (fromSlot: number, round: number) => {
      a.step(0, prepare(b(round, 0), fromSlot)); // node 0 leads, so its Prepare is answered
      const out = a.ready();
      expect(out.messages.length).toBe(1);
      const msg = out.messages[0]!.msg;
      if (msg.type !== "promise") throw new Error(`expected a promise, got ${msg.type}`);
      expect(msg.fromSlot).toBe(fromSlot);
      expect(msg.commitIndex).toBe(2);
      return msg.votes;
    };

    expect(votesFor(1, 2)).toEqual([
      { slot: 1, ballot: NO_BALLOT, value: v(1), chosen: true },
      { slot: 2, ballot: b(1, 0), value: v(2), chosen: false },
      { slot: 3, ballot: b(1, 0), value: v(3), chosen: false },
      { slot: 4, ballot: b(1, 0), value: NOOP, chosen: false },
    ]);
    expect(votesFor(4, 3)).toEqual([{ slot: 4, ballot: b(1, 0), value: NOOP, chosen: false }]);
    expect(votesFor(5, 4)).toEqual([]);
    r = a.ready();
    expect(r.messages).toEqual([]);
  });
});

describe("acceptor: durability", () => {
  // PMS sec 2.3 end: an acceptor must remember its promise and its votes in
  // stable storage, so that it keeps them across a failure and restart.
  it("a restart from durable records restores the promised ballot, the votes and the chosen prefix", () => {
    const records: PersistRecord[] = [];
    const a = acceptor();
    const feed = (from: number, m: Message) => {
      a.step(from, m);
      records.push(...a.ready().persist);
    };
    feed(0, prepare(b(1, 0)));
    feed(0, accept(b(1, 0), 0, [v(0), v(1)]));
    feed(0, accept(b(1, 0), 2, [v(2)], 1)); // slot 0 chosen
    feed(0, prepare(b(2, 0), 1)); // the leader re-prepares with a higher ballot
    expect(a.status().promised).toEqual(b(2, 0));

    const r2 = acceptor(records);
    const s = r2.status();
    expect(s.promised).toEqual(b(2, 0));
    expect(s.role).toBe("follower");
    expect(s.commitIndex).toBe(1);
    expect([...r2.list.values]).toEqual([0]);
    // Replaying is not news: the rebuilt node has nothing to persist, send or report.
    expect(r2.ready()).toEqual({ persist: [], messages: [], results: [], applied: [], membership: null });

    // A restarted node knows no leader, so it answers anyone: lower ballots are refused ...
    r2.step(2, prepare(b(1, 2), 1));
    expect(r2.ready().messages).toEqual([{ from: 1, to: 2, msg: { type: "nack", ballot: b(1, 2), promised: b(2, 0) } }]);
    r2.step(0, accept(b(1, 0), 1, [v(7)]));
    expect(r2.ready()).toEqual({
      persist: [],
      messages: [{ from: 1, to: 0, msg: { type: "nack", ballot: b(1, 0), promised: b(2, 0) } }],
      results: [],
      applied: [],
      membership: null,
    });
    // ... and a higher Prepare sees the votes from before the crash.
    r2.step(2, prepare(b(3, 2), 0));
    expect(r2.ready().messages[0]!.msg).toEqual({
      type: "promise",
      ballot: b(3, 2),
      fromSlot: 0,
      votes: [
        { slot: 0, ballot: NO_BALLOT, value: v(0), chosen: true },
        { slot: 1, ballot: b(1, 0), value: v(1), chosen: false },
        { slot: 2, ballot: b(1, 0), value: v(2), chosen: false },
      ],
      commitIndex: 1,
    });
  });
});
