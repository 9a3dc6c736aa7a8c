// Regressions found by a review of the core, each a scenario that broke an
// invariant before its fix (the comments say what happened then).

import { describe, expect, it } from "vitest";
import { cmd, partition, TestCluster } from "./cluster-harness.js";

describe("safety: a leader's log holds only its own ballot's choices", () => {
  // Followers learn "below leader b's commit point, my vote in ballot b is the
  // chosen value"; that holds only if leader b never extends its log with a
  // value chosen under another ballot. A duplicated, late CatchupReply did that.
  it("a leader ignores a late CatchupReply, so no follower learns a value that was not chosen", () => {
    const cl = new TestCluster(5);
    cl.campaign(4);
    // Node 0 misses slot 0, then catches up from leader 4: remember that CatchupRequest (to be duplicated later).
    cl.filter = (e) => (e.from === 0 || e.to === 0 ? "drop" : "deliver");
    cl.propose(4, cmd(9, 1, 9));
    cl.deliverAll();
    cl.filter = null;
    cl.tickAll(3);
    const dupReq = cl.sent("catchupRequest", { from: 0, to: 4 })[0]!;
    expect(dupReq.msg).toEqual({ type: "catchupRequest", fromSlot: 0 });
    expect(cl.list(0)).toEqual([9]);
  
    // Node 4 crashes; node 0 is elected (ballot b1) and later node 4 comes back.
    cl.crash(4);
    cl.campaign(0);
    cl.restart(4);
    cl.tickAll(2);
    const b1 = cl.core(0).status().ownBallot!;
  
    // Partition {0,1} | {2,3,4}. Leader 0 proposes v for slot 1: only 0 and 1 accept (not chosen).
    const minority = partition([0, 1], [2, 3, 4]);
    cl.filter = minority;
    cl.propose(0, cmd(1, 1, 111));
    cl.deliverAll();
    // The majority side elects a new leader (node 0 is paused: it is not ticked) and chooses w for slot 1.
    let l2 = -1;
    for (let t = 0; t < 300 && l2 < 0; t++) {
      for (const id of [2, 3, 4]) cl.core(id).tick();
      cl.deliverAll();
      l2 = [2, 3, 4].find((id) => cl.core(id).status().role === "leader") ?? -1;
    }
    expect(l2).toBeGreaterThanOrEqual(2);
    cl.propose(l2, cmd(2, 1, 222));
    cl.deliverAll();
    for (let t = 0; t < 5; t++) { for (const id of [2, 3, 4]) cl.core(id).tick(); cl.deliverAll(); }
    expect(cl.list(4)).toEqual([9, 222]);
  
    // The network duplicates node 0's old CatchupRequest; node 4 answers it with what it knows now.
    cl.inject(0, 4, dupReq.msg);
    cl.deliverAll((e) => (e.msg.type === "catchupReply" && e.from === 4 && e.to === 0 ? "deliver" : minority(e)));
    expect(cl.core(0).status().role).toBe("leader"); // still leads with b1...
    expect(cl.core(0).status().ownBallot).toEqual(b1);
    expect(cl.list(0)).toEqual([9]); // ...and did not take slot 1 from a node that follows a newer ballot
  
    // Its next heartbeat (b1, commitIndex 2) makes follower 1 learn its own b1 vote for slot 1: 111.
    cl.read(0); // any read (or just the next heartbeat tick) sends a heartbeat
    cl.deliverAll();
    expect(cl.list(1)).toEqual([9]); // before the fix: [9, 111], while the majority chose [9, 222]
  });
});

describe("exactly-once across a stale recovered copy", () => {
  // One command in two slots: the retry is applied, the client moves on, and a
  // later leader recovers the first copy from a minority vote.
  it("a stale copy of an applied command, recovered after the client moved on, is not applied again", () => {
    const cl = new TestCluster(3);
    cl.campaign(0);
    const X = cmd(7, 1, 100);
    // Leader 0 sends X in an Accept for slot 0, and it only reaches its own acceptor.
    // Before it: two other commands so X lands at slot 2 (A, B also only on node 0).
    cl.propose(0, cmd(1, 1, 1)); cl.flush(0);
    cl.propose(0, cmd(2, 1, 2)); cl.flush(0);
    const x1 = cl.propose(0, X);
    cl.deliverAll((e) => (e.msg.type === "accept" && e.to !== 0 ? "drop" : "deliver"));
    expect(cl.core(0).commitIndex).toBe(0);
    // Node 0 is cut off; 1 and 2 elect node 1. Node 0 steps down -> X outcome "unknown"
    cl.filter = partition([0], [1, 2]);
    cl.campaign(1);
    cl.tickAll(70);
    expect(cl.resultsFor(x1)[0]).toMatchObject({ kind: "rejected", outcome: "unknown" });
    // The gateway's route() re-routes the same request to the new leader (a retry of the triple).
    const x2 = cl.propose(1, X);
    cl.deliverAll();
    expect(cl.result(x2)).toMatchObject({ kind: "appended", index: 0, duplicate: false });
    // The client (Jepsen: client_id = pid, command_id = 1 every time) sends its next command.
    const z = cl.propose(1, cmd(7, 1, 200));
    cl.deliverAll();
    expect(cl.result(z)).toMatchObject({ kind: "appended", index: 1, duplicate: false });
    // Heal; node 0 catches up to [100, 200] but keeps its stale vote (ballot 1) for slot 2 = X.
    cl.filter = null;
    cl.tickAll(20);
    expect(cl.list(0)).toEqual([100, 200]);
    // Node 1 crashes before it uses slot 2; node 2 is elected by {0, 2} and recovers slot 2 = X.
    cl.crash(1);
    cl.electLeader();
    cl.tickAll(20);
    expect(cl.list(2)).toEqual([100, 200]); // before the fix: [100, 200, 100]
  });
});
