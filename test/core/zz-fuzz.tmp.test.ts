import { expect, it } from "vitest";
import { Rng } from "../../src/core/rng.js";
import type { Envelope, Value } from "../../src/core/types.js";
import { cmd, TestCluster } from "./cluster-harness.js";

it("fuzz", () => {
  let failures = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const rng = new Rng(seed * 7919);
    const n = [3, 5][seed % 2]!;
    const cl = new TestCluster(n, { maxBatch: 3, maxInflight: 2, resendTicks: 5, catchupBatch: 3 });
    const chosen = new Map<number, string>();
    const reqPayload = new Map<number, number>();
    const ackIndex = new Map<number, number>();
    let next = 1;
    const readFloor = new Map<number, number>();
    const check = (where: string) => {
      for (const id of cl.upIds()) {
        const log = cl.log(id);
        log.forEach((v, s) => {
          const k = JSON.stringify(v);
          const prev = chosen.get(s);
          if (prev === undefined) chosen.set(s, k);
          else if (prev !== k) throw new Error(`seed ${seed} ${where}: node ${id} slot ${s} ${k} vs ${prev}`);
        });
        const list = cl.list(id);
        if (new Set(list).size !== list.length) throw new Error(`seed ${seed}: dup in list ${list}`);
      }
      for (const rs of cl.results) for (const r of rs) {
        if (r.kind !== "appended") continue;
        const p = reqPayload.get(r.requestId)!;
        const prev = ackIndex.get(p);
        if (prev !== undefined && prev !== r.index) throw new Error(`seed ${seed}: payload ${p} index ${r.index} vs ${prev}`);
        ackIndex.set(p, r.index);
      }
      const seen = new Set<number>();
      for (const rs of cl.results) for (const r of rs) { if (seen.has(r.requestId)) throw new Error(`seed ${seed}: request ${r.requestId} answered twice`); seen.add(r.requestId); }
      for (const rs of cl.results) for (const r of rs) {
        if (r.kind !== "read") continue;
        if (r.length < readFloor.get(r.requestId)!) throw new Error(`seed ${seed}: stale read ${r.length} < ${readFloor.get(r.requestId)}`);
        if (r.length > chosen.size) throw new Error(`seed ${seed}: read from the future`);
      }
    };
    const deliverChaos = () => {
      for (let k = 0; k < 5000; k++) {
        for (let t = 0; t < 3; t++) { try { cl.flushAll(); break; } catch (e) { if (!(e instanceof TypeError)) throw e; } }
        if (cl.queue.length === 0) return;
        const i = rng.intBetween(0, cl.queue.length);
        const env = cl.queue.splice(i, 1)[0]!;
        const r = rng.intBetween(0, 100);
        if (r < 10) continue; // drop
        if (r < 15) cl.queue.push(env); // duplicate
        if (!cl.isUp(env.to)) continue;
        cl.core(env.to).step(env.from, env.msg);
      }
    };
    try {
      for (let step = 0; step < 300; step++) {
        const a = rng.intBetween(0, 30);
        const up = cl.upIds();
        if (a === 0 && up.length > 1) cl.crash(up[rng.intBetween(0, up.length)]!);
        else if (a === 1) {
          const down = cl.ids.filter((id) => !cl.isUp(id));
          if (down.length) cl.restart(down[rng.intBetween(0, down.length)]!);
        } else if (a < 10) {
          const ls = cl.leaders();
          const t = ls.length ? ls[rng.intBetween(0, ls.length)]! : up[rng.intBetween(0, up.length)]!;
          // sometimes a retry of an earlier command
          if (process.env.RETRY && a < 3 && next > 1) {
            const c = rng.intBetween(1, next);
            reqPayload.set(cl.propose(t, cmd(c, 1, c)), c);
          } else {
            const c = next++;
            reqPayload.set(cl.propose(t, cmd(c, 1, c)), c);
          }
        } else if (a >= 10 && a < 14) {
          const up2 = cl.upIds();
          let floor = 0;
          for (const rs of cl.results) for (const r of rs) if (r.kind === "appended") floor = Math.max(floor, r.index + 1);
          readFloor.set(cl.read(up2[rng.intBetween(0, up2.length)]!), floor);
        }
        for (const id of cl.upIds()) if (rng.intBetween(0, 4) !== 0) cl.core(id).tick();
        deliverChaos();
        check(`step ${step}`);
      }
      for (const id of cl.ids) if (!cl.isUp(id)) cl.restart(id);
      for (let t = 0; t < 200; t++) { for (const id of cl.upIds()) cl.core(id).tick(); deliverChaos(); }
      cl.tickAll(50);
      check("end");
      const logs = cl.ids.map((id) => cl.log(id).length);
      if (new Set(logs).size !== 1 || cl.leader() === null) throw new Error(`seed ${seed}: no convergence ${logs} leaders ${cl.leaders()}`);
    } catch (e) {
      failures++;
      console.log(String((e as Error).stack).split("\n").slice(0,4).join(" | "));
    }
  }
  expect(failures).toBe(0);
});
