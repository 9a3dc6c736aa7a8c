// Property tests: histories from a simulated linearizable list with random
// concurrency are accepted; corrupting one reply so that no linearization can
// exist is caught; and on small random histories the checker agrees with a
// brute-force enumeration of every order.

import { describe, expect, it } from "vitest";
import { historyFromEvents, type History, type Operation, type RecordedEvent } from "../../src/check/history.js";
import { checkHistory, type CheckResult } from "../../src/check/linearizability.js";
import type { ModelName } from "../../src/check/models.js";

/** mulberry32: a small seeded PRNG, so failures are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimOptions {
  ops: number;
  clients: number;
  readRate: number;
  infoRate: number;
  failRate: number;
}

type SimEvent = RecordedEvent;

/**
 * A linearizable list with clients whose operations overlap at random: each op
 * takes effect at a random point inside its interval (an info append that took
 * effect may do so after the client gave up). Returns the events in time order.
 */
function simulate(rand: () => number, o: SimOptions): SimEvent[] {
  interface SimOp {
    process: number;
    f: "append" | "read";
    value: number | null;
    invoke: number;
    complete: number;
    lin: number;
    outcome: "ok" | "fail" | "info";
    effect: boolean;
    reply: number[] | null;
  }
  const free = Array.from({ length: o.clients }, () => rand() * 5);
  const proc = Array.from({ length: o.clients }, (_, i) => i);
  const sim: SimOp[] = [];
  let nextValue = 1;
  for (let k = 0; k < o.ops; k++) {
    let c = 0;
    for (let i = 1; i < o.clients; i++) if ((free[i] ?? 0) < (free[c] ?? 0)) c = i;
    const invoke = (free[c] ?? 0) + rand() * 2;
    const latency = rand() < 0.05 ? 5 + rand() * 40 : 0.5 + rand() * 8;
    const f = rand() < o.readRate ? "read" : "append";
    const u = rand();
    const outcome = u < o.infoRate ? "info" : u < o.infoRate + o.failRate ? "fail" : "ok";
    const effect = outcome === "ok" || (outcome === "info" && f === "append" && rand() < 0.5);
    const lin = invoke + rand() * latency * (outcome === "info" ? 3 : 1);
    sim.push({ process: proc[c] ?? 0, f, value: f === "append" ? nextValue++ : null, invoke, complete: invoke + latency, lin, outcome, effect, reply: null });
    free[c] = invoke + latency;
    if (outcome === "info") proc[c] = (proc[c] ?? 0) + o.clients; // as Jepsen: a crashed process is replaced
  }
  const list: number[] = [];
  for (const op of [...sim].filter((s) => s.effect).sort((a, b) => a.lin - b.lin)) {
    if (op.f === "append") list.push(op.value ?? 0);
    if (op.outcome === "ok") op.reply = list.slice();
  }
  const timed: { t: number; e: Omit<SimEvent, "time"> }[] = [];
  for (const op of sim) {
    timed.push({ t: op.invoke, e: { process: op.process, type: "invoke", f: op.f, value: op.value, state: null } });
    timed.push({ t: op.complete, e: { process: op.process, type: op.outcome, f: op.f, value: op.value, state: op.reply } });
  }
  timed.sort((a, b) => a.t - b.t);
  return timed.map((x, i) => ({ ...x.e, time: i * 1000 }));
}

function both(h: History, model: ModelName): [CheckResult, CheckResult] {
  return [checkHistory(h, { model }), checkHistory(h, { model, strategy: "search" })];
}

const simOptions = (rand: () => number): SimOptions => ({
  ops: 20 + Math.floor(rand() * 300),
  clients: 1 + Math.floor(rand() * 6),
  readRate: rand() * 0.6,
  infoRate: rand() * 0.1,
  failRate: rand() * 0.1,
});

describe("simulated linearizable histories", () => {
  it("are all accepted, by both models and both methods", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = prng(seed);
      const h = historyFromEvents(simulate(rand, simOptions(rand)));
      for (const model of ["strict", "appendable-list"] as const) {
        for (const r of both(h, model)) {
          if (r.valid !== true) throw new Error(`seed ${seed}, ${model}, ${r.method}: ${JSON.stringify(r)}`);
        }
      }
    }
  });

  it("with an acknowledged element removed from a later reply, are rejected", () => {
    let corrupted = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const rand = prng(seed * 7919);
      const events = simulate(rand, simOptions(rand));
      const h = historyFromEvents(events);
      // Pick an ok op b and an ok append a that completed before b was invoked:
      // a's value is in b's reply and must stay there.
      const pairs: [Operation, Operation][] = [];
      for (const b of h.ops) {
        if (b.type !== "ok") continue;
        for (const a of h.ops) if (a.f === "append" && a.type === "ok" && (a.completeSeq ?? 0) < b.invokeSeq) pairs.push([a, b]);
      }
      if (pairs.length === 0) continue;
      const [a, b] = pairs[Math.floor(rand() * pairs.length)] as [Operation, Operation];
      const ev = events[b.completeSeq ?? 0] as SimEvent;
      expect(ev.state).toContain(a.value);
      ev.state = (ev.state ?? []).filter((x) => x !== a.value);
      const bad = historyFromEvents(events);
      corrupted++;
      for (const model of ["strict", "appendable-list"] as const) {
        const [auto, searched] = both(bad, model);
        if (auto.valid !== false || searched.valid !== false) {
          throw new Error(`seed ${seed}, ${model}: removing ${String(a.value)} from op #${b.index}'s reply went unnoticed: ${JSON.stringify([auto, searched])}`);
        }
        // The report points at the corrupted op: as the op blamed, a related op, or one in the window.
        for (const r of [auto, searched]) {
          expect([r.opIndex, ...r.related, ...r.window], `seed ${seed}, ${model}, ${r.method}`).toContain(b.index);
        }
        if (model === "strict" && auto.kind === "real-time") expect(searched.opIndex, `seed ${seed}`).toBe(auto.opIndex);
      }
    }
    expect(corrupted).toBeGreaterThan(250);
  });

  it("with any one reply changed, the fast path and the search agree (strict)", () => {
    for (let seed = 1; seed <= 400; seed++) {
      const rand = prng(seed * 104729);
      const events = simulate(rand, { ...simOptions(rand), ops: 10 + Math.floor(rand() * 60) });
      const oks = events.filter((e) => e.type === "ok" && e.state !== null);
      const ev = oks[Math.floor(rand() * oks.length)];
      if (ev === undefined) continue;
      const s = [...(ev.state ?? [])];
      const i = Math.floor(rand() * (s.length + 1));
      switch (Math.floor(rand() * 5)) {
        case 0: // drop an element
          s.splice(i, 1);
          break;
        case 1: // swap two neighbours
          if (i + 1 < s.length) [s[i], s[i + 1]] = [s[i + 1] ?? 0, s[i] ?? 0];
          break;
        case 2: // an element nobody appended, or one appended later
          s.splice(i, 0, rand() < 0.5 ? 10_000 : 1 + Math.floor(rand() * 80));
          break;
        case 3: // duplicate an element
          if (s.length > 0) s.splice(i, 0, s[Math.floor(rand() * s.length)] ?? 0);
          break;
        default: // truncate
          s.length = Math.min(s.length, i);
      }
      ev.state = s;
      const h = historyFromEvents(events);
      const [auto, searched] = both(h, "strict");
      expect(searched.valid, `seed ${seed}`).toBe(auto.valid);
      // Where the order read off the replies breaks real time, both blame the same op.
      if (auto.valid === false && searched.valid === false && auto.kind === "real-time") expect(searched.opIndex, `seed ${seed}`).toBe(auto.opIndex);
    }
  });
});

// ---- Brute force: every order of every subset of info appends ----

function applyModel(model: ModelName, st: readonly number[], op: Operation): number[] | null {
  const eq = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (op.type === "info") return [...st, op.value ?? 0]; // only info appends get here
  const reply = op.reply ?? [];
  if (op.f === "read") return eq(reply, st) ? [...st] : null;
  const v = op.value ?? 0;
  if (model === "strict") return eq(reply, [...st, v]) ? [...st, v] : null;
  if (reply.length < st.length || !eq(reply.slice(0, st.length), st) || !reply.slice(st.length).includes(v)) return null;
  return [...st, v];
}

function bruteForce(h: History, model: ModelName): boolean {
  const ops = h.ops.filter((o) => o.type === "ok" || (o.type === "info" && o.f === "append"));
  const mustCount = ops.filter((o) => o.type === "ok").length;
  const done = new Set<Operation>();
  const dfs = (st: number[], okDone: number): boolean => {
    if (okDone === mustCount) return true; // info appends left out never took effect
    for (const o of ops) {
      if (done.has(o)) continue;
      // Every ok op that completed before o was invoked must already be linearized.
      if (ops.some((p) => p.type === "ok" && !done.has(p) && (p.completeSeq ?? 0) < o.invokeSeq)) continue;
      const next = applyModel(model, st, o);
      if (next === null) continue;
      done.add(o);
      const found = dfs(next, okDone + (o.type === "ok" ? 1 : 0));
      done.delete(o);
      if (found) return true;
    }
    return false;
  };
  return dfs([], 0);
}

describe("small random histories", () => {
  it("agree with a brute-force search over all orders, for both models", () => {
    const counts = { valid: 0, invalid: 0 };
    for (let seed = 1; seed <= Number(process.env.BRUTE_SEEDS ?? 3000); seed++) {
      const rand = prng(seed * 31337);
      const events = simulate(rand, { ops: 2 + Math.floor(rand() * 6), clients: 1 + Math.floor(rand() * 3), readRate: 0.4, infoRate: 0.2, failRate: 0.1 });
      // Perturb some replies: random lists over the values around, sometimes repeated.
      for (const e of events) {
        if (e.type !== "ok" || rand() > 0.3) continue;
        const len = Math.floor(rand() * 5);
        const s = Array.from({ length: len }, () => 1 + Math.floor(rand() * 5));
        if (e.f === "append" && rand() < 0.7) s.push(e.value ?? 0);
        e.state = s;
      }
      // Sometimes append a value twice.
      if (rand() < 0.2) {
        const appends = events.filter((e) => e.f === "append");
        const first = appends[0];
        const second = appends[appends.length - 1];
        if (first !== undefined && second !== undefined && first.value !== second.value) {
          const old = second.value;
          for (const e of events) if (e.f === "append" && e.value === old) e.value = first.value;
        }
      }
      const h = historyFromEvents(events);
      for (const model of ["strict", "appendable-list"] as const) {
        const expected = bruteForce(h, model);
        counts[expected ? "valid" : "invalid"]++;
        for (const r of both(h, model)) {
          if (r.valid !== expected) {
            throw new Error(`seed ${seed}, ${model}, ${r.method}: expected ${expected}, got ${JSON.stringify(r)}\n${events.map((e) => JSON.stringify(e)).join("\n")}`);
          }
        }
      }
    }
    // Both outcomes are well represented.
    expect(counts.valid).toBeGreaterThan(1000);
    expect(counts.invalid).toBeGreaterThan(1000);
  });
});
