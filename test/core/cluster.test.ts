// Whole-cluster properties on the in-memory TestCluster: safety across
// failover, exactly-once appends, restart and catch-up.
import { describe, expect, it } from "vitest";
import { Rng } from "../../src/core/rng.js";
import { cmd, cmdValue, holdTypes, partition, TestCluster } from "./cluster-harness.js";

const others = (cl: TestCluster, ...not: number[]) => cl.ids.filter((id) => !not.includes(id));

describe("safety across failover", () => {
  // "Paxos Made Simple" sec 2.2, invariant P2: if a value v is chosen, every
  // higher-numbered proposal that is chosen has value v. Here: a new leader
  // never overwrites a chosen slot, and new appends land after it.
  it("a new leader never overwrites a chosen value (chosen and known before the crash)", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    const w = cl.propose(l, cmd(1, 1, 111));
    cl.deliverAll();
    cl.tickAll(2);
    expect(cl.result(w)).toEqual({ kind: "appended", requestId: w, index: 0, duplicate: false });
    for (const id of cl.ids) expect(cl.log(id)).toEqual([cmdValue(cmd(1, 1, 111))]);

    cl.crash(l);
    const l2 = cl.electLeader();
    expect(l2).not.toBe(l);
    const w2 = cl.propose(l2, cmd(2, 1, 222));
    cl.deliverAll();
    cl.tickAll(2);
    expect(cl.result(w2)).toEqual({ kind: "appended", requestId: w2, index: 1, duplicate: false });
    for (const id of others(cl, l)) {
      expect(cl.log(id)[0]).toEqual(cmdValue(cmd(1, 1, 111)));
      expect(cl.list(id)).toEqual([111, 222]);
    }
  });

  // P2 again, in the hard case: the value is chosen (a majority voted for it)
  // but nobody learned it before the leader crashed. Phase 1 of the next leader
  // must find it (PMS sec 2.2, P2c) and re-propose it rather than a new value.
  it("a new leader never overwrites a value chosen by a majority that nobody learned", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    const [f, g] = others(cl, l) as [number, number];
    cl.propose(l, cmd(1, 1, 111));
    // The Accept reaches l and f only; every Accepted vote is lost: chosen, unknown.
    cl.deliverAll((e) => (e.msg.type === "accept" && e.to === g) || e.msg.type === "accepted" ? "drop" : "deliver");
    expect(cl.core(l).commitIndex).toBe(0);
    expect(cl.core(f).commitIndex).toBe(0);
    cl.crash(l);

    // g, which never saw the value, campaigns and wins with f's promise.
    cl.campaign(g);
    expect(cl.leader()).toBe(g);
    const w2 = cl.propose(g, cmd(2, 1, 222));
    cl.deliverAll();
    cl.tickAll(2);
    expect(cl.result(w2)).toEqual({ kind: "appended", requestId: w2, index: 1, duplicate: false });
    for (const id of [f, g]) {
      expect(cl.log(id)).toEqual([cmdValue(cmd(1, 1, 111)), cmdValue(cmd(2, 1, 222))]);
      expect(cl.list(id)).toEqual([111, 222]);
    }

    // The old leader comes back and converges to the same list.
    cl.restart(l);
    cl.tickAll(25);
    expect(cl.list(l)).toEqual([111, 222]);
    expect(cl.log(l)).toEqual(cl.log(g));
  });

  // PMS sec 2.2 phase 2a: only a value voted by the promising majority is
  // re-proposed; a value that reached no acceptor but the crashed leader may be
  // replaced (here: the gap is filled and new appends follow).
  it("a value that reached only the crashed leader is not resurrected over later choices", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    const [f, g] = others(cl, l) as [number, number];
    const lost = cl.propose(l, cmd(1, 1, 111));
    cl.deliverAll((e) => (e.msg.type === "accept" && e.to !== l ? "drop" : "deliver"));
    cl.crash(l);
    expect(cl.resultsFor(lost)).toEqual([]);

    const l2 = cl.electLeader();
    expect([f, g]).toContain(l2);
    const w = cl.propose(l2, cmd(2, 1, 222));
    cl.deliverAll();
    cl.restart(l);
    cl.tickAll(25);
    for (const id of cl.ids) expect(cl.list(id)).toEqual([222]);
    expect(cl.result(w)).toEqual({ kind: "appended", requestId: w, index: 0, duplicate: false });
  });

  it("a leader cut off in a minority chooses nothing; after healing every node has the majority's list", () => {
    const cl = new TestCluster(5);
    const old = cl.electLeader();
    const minority = [old, others(cl, old)[0]!];
    const majority = others(cl, ...minority);
    cl.filter = partition(minority, majority);
    const stale = cl.propose(old, cmd(9, 1, 999));
    cl.tickAll(60);
    const fresh = majority.find((id) => cl.core(id).status().role === "leader");
    expect(fresh).toBeDefined();
    // The stale leader gave up (check-quorum) and told its client the outcome is unknown.
    expect(cl.result(stale)).toEqual({ kind: "rejected", requestId: stale, reason: "not_leader", outcome: "unknown", leader: null });
    const w = cl.propose(fresh!, cmd(1, 1, 5));
    cl.deliverAll();
    expect(cl.result(w)).toEqual({ kind: "appended", requestId: w, index: 0, duplicate: false });

    cl.filter = null;
    cl.tickAll(30);
    // One leader and one list (whether leadership moves on healing is the
    // separate, currently failing, test below).
    expect(cl.leader()).not.toBeNull();
    for (const id of cl.ids) expect(cl.list(id)).toEqual([5]);
  });
});

describe("leader stickiness and pre-vote", () => {
  // Regression (found by this suite): with 5 nodes, a minority {old leader,
  // one follower} used to raise its ballot while cut off; on healing, that
  // follower Nacked the new leader's heartbeat and forced a needless election.
  // Pre-vote (Raft thesis sec. 9.6) raises no ballot unless a majority would
  // promise it, so the healthy leader keeps its leadership.
  it("a healed minority of two does not depose the majority's leader", () => {
    const cl = new TestCluster(5);
    const old = cl.electLeader();
    const minority = [old, others(cl, old)[0]!];
    const majority = others(cl, ...minority);
    cl.filter = partition(minority, majority);
    cl.tickAll(60);
    const fresh = majority.find((id) => cl.core(id).status().role === "leader");
    expect(fresh).toBeDefined();
    const freshBallot = cl.core(fresh!).status().ownBallot;
    cl.filter = null;
    cl.tickAll(30);
    expect(cl.leaders()).toEqual([fresh]);
    expect(cl.core(fresh!).status().ownBallot).toEqual(freshBallot);
    for (const id of minority) expect(cl.core(id).status().leader).toBe(fresh);
  });
});

describe("exactly-once appends", () => {
  // The replicated state machine applies each (clientId, commandId, payload)
  // once; a retry gets the original index with duplicate=true. The session
  // table is part of the replicated state, so this survives failover.
  it("the same command proposed twice is applied once; the retry gets the original index with duplicate=true", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    const first = cl.propose(l, cmd(7, 1, 70));
    cl.deliverAll();
    const retry = cl.propose(l, cmd(7, 1, 70));
    cl.deliverAll();
    expect(cl.result(first)).toEqual({ kind: "appended", requestId: first, index: 0, duplicate: false });
    expect(cl.result(retry)).toEqual({ kind: "appended", requestId: retry, index: 0, duplicate: true });

    // Same (clientId, commandId) with a different payload: a new append.
    const reused = cl.propose(l, cmd(7, 1, 71));
    cl.deliverAll();
    expect(cl.result(reused)).toEqual({ kind: "appended", requestId: reused, index: 1, duplicate: false });
    cl.tickAll(2);
    for (const id of cl.ids) expect(cl.list(id)).toEqual([70, 71]);

    // After failover the new leader still knows: the retry is not appended again.
    cl.crash(l);
    const l2 = cl.electLeader();
    const retry2 = cl.propose(l2, cmd(7, 1, 71));
    cl.deliverAll();
    expect(cl.result(retry2)).toEqual({ kind: "appended", requestId: retry2, index: 1, duplicate: true });
    const next = cl.propose(l2, cmd(7, 2, 71)); // a new commandId with the same payload is new
    cl.deliverAll();
    cl.tickAll(2);
    expect(cl.result(next)).toEqual({ kind: "appended", requestId: next, index: 2, duplicate: false });
    for (const id of others(cl, l)) expect(cl.list(id)).toEqual([70, 71, 71]);
  });

  it("the same command proposed twice before it is sent uses one slot and answers both requests", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    const a = cl.propose(l, cmd(7, 1, 70));
    const b = cl.propose(l, cmd(7, 1, 70));
    const r = cl.flush(l);
    const acc = r.messages.find((e) => e.msg.type === "accept" && e.to === l)!.msg;
    expect(acc).toMatchObject({ type: "accept", values: [cmdValue(cmd(7, 1, 70))] });
    cl.deliverAll();
    expect(cl.result(a)).toEqual({ kind: "appended", requestId: a, index: 0, duplicate: false });
    expect(cl.result(b)).toEqual({ kind: "appended", requestId: b, index: 0, duplicate: false });
    expect(cl.list(l)).toEqual([70]);
  });

  it("a retry at a new leader of a command whose outcome was unknown is applied once", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    const [f, g] = others(cl, l) as [number, number];
    const first = cl.propose(l, cmd(7, 1, 70));
    // Chosen (l and f voted) but nobody learned it.
    cl.deliverAll((e) => (e.msg.type === "accept" && e.to === g) || e.msg.type === "accepted" ? "drop" : "deliver");
    cl.crash(l);
    expect(cl.resultsFor(first)).toEqual([]);

    cl.campaign(g, holdTypes("accept")); // g wins, its recovery Accept is held back
    expect(cl.leader()).toBe(g);
    const retry = cl.propose(g, cmd(7, 1, 70)); // the retry races the recovery
    cl.releaseHeld();
    cl.deliverAll();
    cl.tickAll(2);
    // Applied once, at the original index: the retry waits for the recovered copy
    // instead of taking a second slot.
    expect(cl.result(retry)).toEqual({ kind: "appended", requestId: retry, index: 0, duplicate: false });
    expect(cl.log(g)).toEqual([cmdValue(cmd(7, 1, 70))]);
    for (const id of [f, g]) expect(cl.list(id)).toEqual([70]);
    const again = cl.propose(g, cmd(7, 1, 70));
    cl.flush(g);
    expect(cl.result(again)).toEqual({ kind: "appended", requestId: again, index: 0, duplicate: true });
  });
});

describe("exactly-once appends: a retry queued behind recovery", () => {
  // Regression (found by this suite): flushProposals() assumed every queued
  // command still had a waiter, but applying an earlier copy of the same
  // command (here recovered by the new leader) answers and removes it; the
  // next ready() threw, and the commands batched with the retry were lost.
  it("a queued retry whose original is recovered and applied first does not break ready()", () => {
    const cl = new TestCluster(3, { maxInflight: 1 });
    const l = cl.electLeader();
    const [f, g] = others(cl, l) as [number, number];
    cl.propose(l, cmd(7, 1, 70));
    // Chosen (l and f voted) but nobody learned it; then l crashes.
    cl.deliverAll((e) => (e.msg.type === "accept" && e.to === g) || e.msg.type === "accepted" ? "drop" : "deliver");
    cl.crash(l);
    cl.campaign(g, holdTypes("accept")); // g wins; its recovery Accept (slot 0 = X) fills the window
    expect(cl.leader()).toBe(g);
    const retry = cl.propose(g, cmd(7, 1, 70)); // queued behind the full window
    const other = cl.propose(g, cmd(8, 1, 80));
    cl.releaseHeld();
    cl.deliverAll();
    cl.tickAll(2);
    expect(cl.result(retry)).toEqual({ kind: "appended", requestId: retry, index: 0, duplicate: false });
    expect(cl.result(other)).toEqual({ kind: "appended", requestId: other, index: 1, duplicate: false });
    for (const id of [f, g]) expect(cl.list(id)).toEqual([70, 80]);
  });

});

describe("restart and catch-up", () => {
  // "Paxos Made Simple" sec 2.3 / end of sec 2.2: acceptors keep their promise
  // and votes in stable storage; a learner that missed choices learns them from
  // another node (CatchupRequest / CatchupReply, Chand Fig. 1 learn).
  it("a restart from durable records restores the list and the promised ballot", () => {
    const cl = new TestCluster(3);
    const l = cl.electLeader();
    for (let i = 1; i <= 4; i++) cl.propose(l, cmd(i, 1, i * 10));
    cl.deliverAll();
    cl.tickAll(2);
    const before = cl.ids.map((id) => ({ list: cl.list(id), promised: cl.core(id).status().promised, commit: cl.core(id).commitIndex }));
    expect(before.map((s) => s.list)).toEqual([[10, 20, 30, 40], [10, 20, 30, 40], [10, 20, 30, 40]]);
    expect(before.map((s) => s.promised)).toEqual(cl.ids.map(() => cl.core(l).status().ownBallot));

    for (const id of cl.ids) cl.crash(id);
    for (const id of cl.ids) cl.restart(id);
    expect(cl.leaders()).toEqual([]);
    expect(cl.ids.map((id) => ({ list: cl.list(id), promised: cl.core(id).status().promised, commit: cl.core(id).commitIndex }))).toEqual(before);

    // The cluster keeps going after a full restart; new appends land after the old ones.
    const l2 = cl.electLeader();
    expect(cl.core(l2).status().ownBallot!.round).toBeGreaterThan(before[0]!.promised.round);
    const w = cl.propose(l2, cmd(9, 1, 90));
    cl.deliverAll();
    cl.tickAll(2);
    expect(cl.result(w)).toEqual({ kind: "appended", requestId: w, index: 4, duplicate: false });
    for (const id of cl.ids) expect(cl.list(id)).toEqual([10, 20, 30, 40, 90]);
  });

  it("a node restarted after missing appends catches up through CatchupRequest/Reply", () => {
    const cl = new TestCluster(3, { catchupBatch: 2 });
    const l = cl.electLeader();
    const f = others(cl, l)[0]!;
    cl.propose(l, cmd(1, 1, 1));
    cl.deliverAll();
    cl.tickAll(2);
    expect(cl.list(f)).toEqual([1]);

    cl.crash(f);
    for (let i = 2; i <= 6; i++) {
      cl.propose(l, cmd(i, 1, i));
      cl.deliverAll();
    }
    expect(cl.list(l)).toEqual([1, 2, 3, 4, 5, 6]);

    cl.restart(f);
    expect(cl.list(f)).toEqual([1]);
    const traceStart = cl.trace.length;
    cl.tickAll(2);
    expect(cl.list(f)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(cl.log(f)).toEqual(cl.log(l));
    const after = cl.trace.slice(traceStart);
    // catchupBatch 2: slots [1,3), [3,5), [5,6).
    expect(after.filter((e) => e.msg.type === "catchupRequest").map((e) => [e.from, e.to, e.msg])).toEqual(
      [1, 3, 5].map((s) => [f, l, { type: "catchupRequest", fromSlot: s }]),
    );
    expect(
      after.filter((e) => e.msg.type === "catchupReply").map((e) => [e.from, e.to, e.msg.type === "catchupReply" && e.msg.values.length]),
    ).toEqual([
      [l, f, 2],
      [l, f, 2],
      [l, f, 1],
    ]);
    // What it learned is durable too.
    cl.crash(f);
    cl.restart(f);
    expect(cl.list(f)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe("randomized (seeded) safety", () => {
  // "Paxos Made Simple" sec 2.2 safety: at most one value is chosen per slot,
  // so a slot, once in any node's log, never holds anything else on any node.
  // Exactly-once: no payload lands in the list twice, an acknowledged index
  // never changes, and every request is answered at most once. Read-index:
  // a read never returns fewer items than were acknowledged before it started.
  // The network drops (10%), duplicates (5%) and reorders messages; nodes crash
  // and restart from their durable records. Everything is driven by the core's
  // own seeded Rng, so a failing seed replays exactly.
  it("under seeded loss, duplication, reordering and crashes: one value per slot, each payload applied once", () => {
    let totalAcked = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const rng = new Rng(seed * 7919);
      const cl = new TestCluster(seed % 2 === 0 ? 3 : 5, { maxBatch: 3, maxInflight: 2, resendTicks: 5, catchupBatch: 3 });
      const chosen = new Map<number, string>(); // slot -> value, as first seen in any log
      const payloadOf = new Map<number, number>(); // requestId -> payload
      const readFloor = new Map<number, number>(); // requestId -> acknowledged appends before the read
      const ackIndex = new Map<number, number>(); // payload -> acknowledged index
      let nextClient = 1;

      const fail = (what: string): never => {
        throw new Error(`seed ${seed}: ${what}`);
      };
      const check = (where: string) => {
        for (const id of cl.upIds()) {
          cl.log(id).forEach((v, slot) => {
            const k = JSON.stringify(v);
            const prev = chosen.get(slot);
            if (prev === undefined) chosen.set(slot, k);
            else if (k !== prev) fail(`${where}: node ${id} has ${k} at slot ${slot}, another node had ${prev}`);
          });
          const list = cl.list(id);
          if (new Set(list).size !== list.length) fail(`${where}: duplicate in node ${id}'s list ${list.join(",")}`);
        }
        const answered = new Set<number>();
        for (const r of cl.results.flat()) {
          if (answered.has(r.requestId)) fail(`request ${r.requestId} answered twice`);
          answered.add(r.requestId);
          if (r.kind === "appended") {
            const p = payloadOf.get(r.requestId)!;
            if ((ackIndex.get(p) ?? r.index) !== r.index) fail(`payload ${p} acknowledged at ${ackIndex.get(p)} and ${r.index}`);
            ackIndex.set(p, r.index);
          } else if (r.kind === "read" && r.length < readFloor.get(r.requestId)!) {
            fail(`stale read: length ${r.length} < ${readFloor.get(r.requestId)} acknowledged before it`);
          }
        }
      };
      const deliverChaos = () => {
        for (let k = 0; k < 5000; k++) {
          cl.flushAll();
          if (cl.queue.length === 0) return;
          const env = cl.queue.splice(rng.intBetween(0, cl.queue.length), 1)[0]!;
          const fate = rng.intBetween(0, 100);
          if (fate < 10) continue; // lost
          if (fate < 15) cl.queue.push(env); // duplicated
          if (cl.isUp(env.to)) cl.core(env.to).step(env.from, env.msg);
        }
      };

      for (let step = 0; step < 300; step++) {
        const action = rng.intBetween(0, 30);
        const up = cl.upIds();
        if (action === 0 && up.length > 1) cl.crash(up[rng.intBetween(0, up.length)]!);
        else if (action === 1) {
          const down = cl.ids.filter((id) => !cl.isUp(id));
          if (down.length > 0) cl.restart(down[rng.intBetween(0, down.length)]!);
        } else if (action < 10) {
          const leaders = cl.leaders();
          const target = leaders.length > 0 ? leaders[rng.intBetween(0, leaders.length)]! : up[rng.intBetween(0, up.length)]!;
          const c = nextClient++;
          payloadOf.set(cl.propose(target, cmd(c, 1, c)), c);
        } else if (action < 12 && nextClient > 1) {
          // A client retry: the same triple again, maybe at another node; it must land once, at one index.
          const leaders = cl.leaders();
          const target = leaders.length > 0 ? leaders[rng.intBetween(0, leaders.length)]! : up[rng.intBetween(0, up.length)]!;
          const c = rng.intBetween(1, nextClient);
          payloadOf.set(cl.propose(target, cmd(c, 1, c)), c);
        } else if (action < 14) {
          const acked = cl.results.flat().filter((r) => r.kind === "appended").map((r) => (r as { index: number }).index + 1);
          readFloor.set(cl.read(up[rng.intBetween(0, up.length)]!), Math.max(0, ...acked));
        }
        for (const id of cl.upIds()) if (rng.intBetween(0, 4) !== 0) cl.core(id).tick();
        deliverChaos();
        check(`step ${step}`);
      }

      // Heal: everyone up, a reliable network; the cluster converges.
      for (const id of cl.ids) if (!cl.isUp(id)) cl.restart(id);
      cl.tickAll(100);
      check("end");
      expect(cl.leader(), `seed ${seed}`).not.toBeNull();
      const lengths = cl.ids.map((id) => cl.log(id).length);
      expect(new Set(lengths).size, `seed ${seed}: logs ${lengths.join(",")}`).toBe(1);
      // Some seeds keep a majority down for most of the run; the sum below keeps the test meaningful.
      expect(ackIndex.size, `seed ${seed}: no append acknowledged at all`).toBeGreaterThanOrEqual(1);
      totalAcked += ackIndex.size;
      const list = cl.list(0);
      for (const [payload, index] of ackIndex) expect(list[index]).toBe(payload);
    }
    expect(totalAcked).toBeGreaterThanOrEqual(300);
  });
});
